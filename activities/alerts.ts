/**
 * Alerts: one Slack message (Block Kit, incoming webhook) per episode outcome, grouped within a
 * window per pipeline + drift. (Being built: see issue 6.)
 */
import type { HealConfig } from '../lib/config';
import type { EpisodeNotice, NotifyResult } from '../common/types';

export interface AlertDeps {
  config: Pick<HealConfig, 'home' | 'slackWebhookUrl' | 'alertWindowMs' | 'uiUrl' | 'namespace'>;
}

export function createAlertActivities(deps: AlertDeps) {
  return {
    /** Send (or group) the alert of one episode outcome. */
    async notifyEpisode(input: EpisodeNotice): Promise<NotifyResult> {
      void input;
      return { status: deps.config.slackWebhookUrl ? 'sent' : 'disabled' };
    },
  };
}
