// Llama 2 7B's config.json as the estimator reads it (the shape both memory estimates are checked on).
import { modelShapeFromConfig } from '../../main/estimate/model-shape.js';

export const llama7b = modelShapeFromConfig({
  model_type: 'llama',
  hidden_size: 4096,
  intermediate_size: 11008,
  num_hidden_layers: 32,
  num_attention_heads: 32,
  num_key_value_heads: 32,
  vocab_size: 32000,
  max_position_embeddings: 4096,
  tie_word_embeddings: false,
});
