/**
 * GitHub: a branch, a commit and a pull request per verified fix; watching that pull request as
 * the approval in `review` mode. (Being built: see issue 6.)
 */
import type { HealConfig } from '../lib/config';
import type { ApprovalDecision, AwaitPullRequestInput, PublishFixInput, PublishFixResult } from '../common/types';

export interface GitHubDeps {
  config: Pick<HealConfig, 'home' | 'github' | 'uiUrl' | 'namespace'>;
}

export function createGitHubActivities(deps: GitHubDeps) {
  return {
    /** Open (or find again) the pull request of a verified fix; `disabled` without GitHub settings. */
    async publishFix(input: PublishFixInput): Promise<PublishFixResult> {
      void deps;
      void input;
      return { status: 'disabled', prUrl: null, prNumber: null, branch: null };
    },
    /** Wait (heartbeating) until the fix's pull request is merged (approve) or closed (reject). */
    async awaitPullRequestDecision(input: AwaitPullRequestInput): Promise<ApprovalDecision> {
      throw new Error(`not implemented: ${input.episodeId}`);
    },
  };
}
