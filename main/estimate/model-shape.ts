// The shape of a Llama-family model as config.json declares it, read the way the engine reads it
// (native/src/model/config.cpp): same defaults, same supported architectures, the same keys of
// transformers 4 and 5 layouts with the same precedence. Pure TypeScript with no Node imports, so
// the renderer bundles it for the live memory estimate.

export const SUPPORTED_MODEL_TYPES = ['llama', 'mistral', 'qwen2'] as const;

export interface ModelShape {
  modelType: string;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  /** q/k/v projections carry a bias (Qwen2 always; Llama/Mistral with attention_bias). */
  qkvBias: boolean;
  /** o_proj carries a bias (Llama/Mistral with attention_bias). */
  oBias: boolean;
}

/** config.json is not usable: `field` names what is wrong, `message` what was expected. */
export class ModelConfigError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'ModelConfigError';
  }
}

type Json = Record<string, unknown>;

function int(config: Json, key: string, fallback?: number): number {
  const v = config[key];
  if (v === undefined || v === null) {
    if (fallback === undefined) throw new ModelConfigError(key, `missing required field "${key}" (a whole number)`);
    return fallback;
  }
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new ModelConfigError(key, `field "${key}" must be a whole number, found ${JSON.stringify(v)}`);
  return v;
}

function positive(key: string, v: number): number {
  if (v <= 0) throw new ModelConfigError(key, `field "${key}" must be positive, found ${v}`);
  return v;
}

/** RoPE as the engine implements it. */
export const SUPPORTED_ROPE_TYPES = ['default', 'linear', 'llama3'] as const;

export interface RopeSettings {
  type: (typeof SUPPORTED_ROPE_TYPES)[number];
  theta: number;
}

function ropeDict(c: Json, key: 'rope_parameters' | 'rope_scaling'): RopeSettings & { factor: unknown } {
  const d = c[key];
  if (typeof d !== 'object' || Array.isArray(d) || d === null) throw new ModelConfigError(key, `"${key}" must be an object or null, found ${JSON.stringify(d)}`);
  const dict = d as Json;
  const type = dict['rope_type'] ?? dict['type'] ?? 'default';
  if (typeof type !== 'string' || !(SUPPORTED_ROPE_TYPES as readonly string[]).includes(type)) {
    throw new ModelConfigError(`${key}.rope_type`, `${key}.rope_type ${JSON.stringify(type)} is not supported (the engine implements ${SUPPORTED_ROPE_TYPES.join(', ')})`);
  }
  const theta = dict['rope_theta'] ?? c['rope_theta'] ?? 10000;
  if (typeof theta !== 'number') throw new ModelConfigError(`${key}.rope_theta`, `${key}.rope_theta must be a number, found ${JSON.stringify(theta)}`);
  return { type: type as RopeSettings['type'], theta, factor: dict['factor'] };
}

/**
 * RoPE from `rope_parameters` (transformers 5) or the older `rope_theta` / `rope_scaling`; the
 * dictionary's rope_theta wins over a top-level one, and two dictionaries must agree.
 */
export function ropeFromConfig(config: Json): RopeSettings {
  const hasParams = config['rope_parameters'] !== undefined && config['rope_parameters'] !== null;
  const hasScaling = config['rope_scaling'] !== undefined && config['rope_scaling'] !== null;
  const params = hasParams ? ropeDict(config, 'rope_parameters') : null;
  const scaling = hasScaling ? ropeDict(config, 'rope_scaling') : null;
  if (params && scaling && (params.type !== scaling.type || params.theta !== scaling.theta || params.factor !== scaling.factor)) {
    throw new ModelConfigError('rope_parameters', `rope_parameters and rope_scaling describe different RoPE (rope_type "${params.type}" vs "${scaling.type}"); keep only rope_parameters`);
  }
  const chosen = params ?? scaling;
  if (chosen) return { type: chosen.type, theta: chosen.theta };
  const theta = config['rope_theta'] ?? 10000;
  if (typeof theta !== 'number') throw new ModelConfigError('rope_theta', `field "rope_theta" must be a number, found ${JSON.stringify(theta)}`);
  return { type: 'default', theta };
}

/** The weights' dtype as config.json states it: `dtype` (transformers 5), else `torch_dtype`; null when neither. */
export function dtypeFromConfig(config: Json): string | null {
  for (const key of ['dtype', 'torch_dtype']) {
    const v = config[key];
    if (typeof v === 'string') return v;
  }
  return null;
}

export function modelShapeFromConfig(config: unknown): ModelShape {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) throw new ModelConfigError('', 'config.json is not a JSON object');
  const c = config as Json;
  const modelType = c['model_type'];
  if (typeof modelType !== 'string') throw new ModelConfigError('model_type', 'missing "model_type" (expected one of llama, mistral, qwen2)');
  if (!(SUPPORTED_MODEL_TYPES as readonly string[]).includes(modelType)) {
    throw new ModelConfigError('model_type', `unsupported architecture model_type "${modelType}" (supported: ${SUPPORTED_MODEL_TYPES.join(', ')})`);
  }
  const act = c['hidden_act'];
  // transformers' ACT2FN maps both names to SiLU, the engine's only activation.
  if (act !== undefined && act !== null && act !== 'silu' && act !== 'swish') {
    throw new ModelConfigError('hidden_act', `unsupported hidden_act ${JSON.stringify(act)} (the engine implements silu/swish only)`);
  }
  ropeFromConfig(c); // refuses RoPE the engine does not implement before any estimate is shown
  if (c['mlp_bias'] === true) throw new ModelConfigError('mlp_bias', 'mlp_bias=true is not supported');
  const hiddenSize = positive('hidden_size', int(c, 'hidden_size'));
  const numHeads = positive('num_attention_heads', int(c, 'num_attention_heads'));
  const numKvHeads = positive('num_key_value_heads', int(c, 'num_key_value_heads', numHeads));
  if (numHeads % numKvHeads !== 0) {
    throw new ModelConfigError('num_key_value_heads', `num_attention_heads (${numHeads}) is not a multiple of num_key_value_heads (${numKvHeads})`);
  }
  const attentionBias = c['attention_bias'] === true;
  return {
    modelType,
    hiddenSize,
    intermediateSize: positive('intermediate_size', int(c, 'intermediate_size')),
    numLayers: positive('num_hidden_layers', int(c, 'num_hidden_layers')),
    numHeads,
    numKvHeads,
    headDim: positive('head_dim', int(c, 'head_dim', Math.floor(hiddenSize / numHeads))),
    vocabSize: positive('vocab_size', int(c, 'vocab_size')),
    maxPositionEmbeddings: int(c, 'max_position_embeddings', 2048),
    tieWordEmbeddings: c['tie_word_embeddings'] === true, // Hugging Face's default is untied
    qkvBias: modelType === 'qwen2' || attentionBias,
    oBias: modelType !== 'qwen2' && attentionBias,
  };
}

export interface ParameterCount {
  total: number;
  embedding: number;
  /** Parameters of one decoder layer (norms, attention, MLP, biases). */
  perLayer: number;
  /** Of perLayer: the seven projection matrices (what LoRA adapts and QLoRA quantizes). */
  perLayerLinear: number;
  /** The output head: 0 when tied to the embedding. */
  head: number;
  finalNorm: number;
}

/** Counted exactly as the engine lays parameters out (native/src/model/parameters.cpp). */
export function parameterCount(s: ModelShape): ParameterCount {
  const H = s.hiddenSize;
  const I = s.intermediateSize;
  const q = s.numHeads * s.headDim;
  const kv = s.numKvHeads * s.headDim;
  const embedding = s.vocabSize * H;
  const perLayerLinear = q * H + 2 * kv * H + H * q + 3 * I * H;
  const norms = 2 * H;
  const biases = (s.qkvBias ? q + 2 * kv : 0) + (s.oBias ? H : 0);
  const perLayer = perLayerLinear + norms + biases;
  const head = s.tieWordEmbeddings ? 0 : s.vocabSize * H;
  const finalNorm = H;
  return { total: embedding + s.numLayers * perLayer + finalNorm + head, embedding, perLayer, perLayerLinear, head, finalNorm };
}
