/**
 * A local GGUF model on the CPU, through node-llama-cpp (installed by `setup.sh --llm` into
 * `.tools/llm-runtime`, outside the project's node_modules: its GPU builds are ~650 MB of optional
 * packages). The package is an ES module loaded at run time; the few parts heal uses are typed here.
 *
 * One request at a time: a model on 2 cores has no throughput to share, and one chat on one context
 * sequence reuses the evaluated prefix (the system prompt) from one request to the next.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { pathToFileURL } from 'node:url';
import { localLlmLayout } from './models';

/** A chat message as the OpenAI API carries it. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface CompletionRequest {
  messages: readonly ChatMessage[];
  /** A JSON schema the answer must follow (turned into a grammar). @default free text */
  jsonSchema?: Record<string, unknown> | undefined;
  /** @default what the context has room for */
  maxTokens?: number | undefined;
  /** @default 0 */
  temperature?: number | undefined;
  signal?: AbortSignal | undefined;
}

export interface Completion {
  text: string;
  finishReason: 'stop' | 'length';
  promptTokens: number;
  completionTokens: number;
}

/** The prompt does not fit in the context with room for an answer: the caller must send less. */
export class ContextOverflowError extends Error {
  override name = 'ContextOverflowError';
  constructor(
    readonly promptTokens: number,
    readonly contextSize: number,
  ) {
    super(
      `the request (${promptTokens} prompt tokens) exceeds the available context size (${contextSize} tokens, with room for an answer)`,
    );
  }
}

export interface LocalModel {
  readonly name: string;
  readonly contextSize: number;
  /** `text` in the model's own tokens. */
  tokenize(text: string): number[];
  complete(req: CompletionRequest): Promise<Completion>;
  close(): Promise<void>;
}

export interface LocalModelOptions {
  modelPath: string;
  name: string;
  /** Context window, in tokens. @default 4096 */
  contextSize?: number;
  /** CPU threads. More threads than cores makes llama.cpp spin and crawl. @default the machine's cores */
  threads?: number;
  projectRoot: string;
}

/** Context window of a local model when none is configured (HEAL_LLM_CONTEXT). */
export const DEFAULT_LOCAL_CONTEXT = 4096;
/**
 * Repetition penalties of every generation. Small models at temperature 0 fall into loops (the same
 * sentence, the same array item) until the token limit, and the answer arrives cut off; with these
 * they end. Newlines are spared: the grammar's JSON layout uses them.
 */
export const REPEAT_PENALTY = Object.freeze({
  penalty: 1.3,
  presencePenalty: 0.3,
  penalizeNewLine: false,
  lastTokens: 64,
});

/** Least room for an answer: a prompt that leaves less is refused (the answer is cut at the room left). */
const MIN_ANSWER_TOKENS = 64;

/* The parts of node-llama-cpp used here (its own types live in .tools, outside the type check). */
type Token = number;
interface LlamaText {
  tokenize(tokenizer: unknown): Token[];
}
interface ChatHistoryItem {
  type: 'system' | 'user' | 'model';
  text?: string;
  response?: string[];
}
interface LlamaChatInstance {
  chatWrapper: { generateContextState(o: { chatHistory: ChatHistoryItem[] }): { contextText: LlamaText } };
  generateResponse(
    history: ChatHistoryItem[],
    o: {
      grammar?: unknown;
      temperature: number;
      maxTokens: number;
      signal?: AbortSignal;
      repeatPenalty: typeof REPEAT_PENALTY;
    },
  ): Promise<{ response: string; metadata: { stopReason: string } }>;
  sequence: { tokenMeter: { usedInputTokens: number; usedOutputTokens: number } };
}
interface NodeLlamaCpp {
  getLlama(o: { gpu: false; build: 'never'; logLevel: string }): Promise<{
    loadModel(o: { modelPath: string }): Promise<{
      tokenizer: unknown;
      tokenize(text: string): Token[];
      createContext(o: { contextSize: number; threads: number }): Promise<{ getSequence(): unknown }>;
      dispose(): Promise<void>;
    }>;
    createGrammarForJsonSchema(schema: Record<string, unknown>): Promise<unknown>;
    dispose(): Promise<void>;
  }>;
  LlamaChat: new (o: { contextSequence: unknown }) => LlamaChatInstance;
}

/** Import the runtime from `.tools/llm-runtime` (an ES module: a real dynamic import, not require). */
async function importRuntime(projectRoot: string): Promise<NodeLlamaCpp> {
  const entry = localLlmLayout(projectRoot).runtimeModule;
  if (!fs.existsSync(entry)) {
    throw new Error(`the local model runtime is not installed (${entry}): run \`bash scripts/setup.sh --llm\``);
  }
  // Through Function: keeps `import()` from being compiled to require() (the package is an ES module).
  const load = new Function('url', 'return import(url)') as (url: string) => Promise<NodeLlamaCpp>;
  return load(pathToFileURL(entry).href);
}

function toHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
  const history = messages.map<ChatHistoryItem>((m) =>
    m.role === 'assistant' ? { type: 'model', response: [m.content] } : { type: m.role, text: m.content },
  );
  history.push({ type: 'model', response: [] }); // the answer to generate
  return history;
}

/** Load a GGUF model and open its context. Loading takes about a second per 500 MB. */
export async function loadLocalModel(opts: LocalModelOptions): Promise<LocalModel> {
  const lib = await importRuntime(opts.projectRoot);
  const contextSize = opts.contextSize ?? DEFAULT_LOCAL_CONTEXT;
  const llama = await lib.getLlama({ gpu: false, build: 'never', logLevel: 'error' });
  const model = await llama.loadModel({ modelPath: opts.modelPath });
  const context = await model.createContext({
    contextSize,
    threads: opts.threads ?? Math.max(1, os.availableParallelism()),
  });
  const chat = new lib.LlamaChat({ contextSequence: context.getSequence() });
  const grammars = new Map<string, Promise<unknown>>();
  let queue: Promise<unknown> = Promise.resolve();

  const promptTokens = (history: ChatHistoryItem[]) =>
    chat.chatWrapper.generateContextState({ chatHistory: history }).contextText.tokenize(model.tokenizer).length;

  async function run(req: CompletionRequest): Promise<Completion> {
    const history = toHistory(req.messages);
    const prompt = promptTokens(history);
    // LlamaChat would shift the context and drop the start of the prompt: refuse instead.
    if (prompt + Math.min(req.maxTokens ?? MIN_ANSWER_TOKENS, MIN_ANSWER_TOKENS) > contextSize)
      throw new ContextOverflowError(prompt, contextSize);
    let grammar: unknown;
    if (req.jsonSchema) {
      const key = JSON.stringify(req.jsonSchema);
      if (!grammars.has(key)) grammars.set(key, llama.createGrammarForJsonSchema(req.jsonSchema));
      grammar = await grammars.get(key);
    }
    const meter = chat.sequence.tokenMeter;
    const outBefore = meter.usedOutputTokens;
    const res = await chat.generateResponse(history, {
      ...(grammar ? { grammar } : {}),
      temperature: req.temperature ?? 0,
      repeatPenalty: REPEAT_PENALTY,
      maxTokens: Math.min(req.maxTokens ?? Infinity, contextSize - prompt),
      ...(req.signal ? { signal: req.signal } : {}),
    });
    return {
      text: res.response,
      finishReason: res.metadata.stopReason === 'maxTokens' ? 'length' : 'stop',
      promptTokens: prompt,
      completionTokens: meter.usedOutputTokens - outBefore,
    };
  }

  return {
    name: opts.name,
    contextSize,
    tokenize: (text) => [...model.tokenize(text)],
    complete(req) {
      const next = queue.then(() => run(req));
      queue = next.catch(() => undefined);
      return next;
    },
    async close() {
      await queue;
      await model.dispose();
      await llama.dispose();
    },
  };
}
