// The README.md of a recipe folder: the exact launch commands for its accelerate configs, how
// Tunesmith's batch maps to the cluster's global batch, how to bring the result back, and what is
// and is not carried over.
import type { ClusterShape } from './accelerate-configs.js';
import type { RecipeSettings } from './recipe-settings.js';

/** The command that starts the recipe on the main node with the FSDP config. */
export function recipeLaunchCommand(shape: ClusterShape): string {
  return shape.nodes > 1
    ? 'accelerate launch --config_file accelerate/fsdp.yaml --machine_rank 0 --main_process_ip MAIN_NODE_ADDRESS train.py'
    : 'accelerate launch --config_file accelerate/fsdp.yaml train.py';
}

const METHOD_NAMES: Record<RecipeSettings['method'], string> = {
  full: 'full fine-tuning (every weight)',
  lora: 'LoRA',
  qlora: 'QLoRA (LoRA on a 4-bit NF4 base with double quantization, bitsandbytes)',
  lisa: 'LISA (layerwise importance sampling)',
};

export function recipeReadme(s: RecipeSettings, shape: ClusterShape, counts: { train: number; val: number }): string {
  const processes = shape.gpus * shape.nodes;
  const perStep = s.batchSize * s.gradAccum;
  const adapter = s.method === 'lora' || s.method === 'qlora';
  const method = s.lora?.rslora ? `${METHOD_NAMES[s.method]}, rank-stabilized (rsLoRA)` : METHOD_NAMES[s.method];
  const splits = s.batchSize % processes === 0;
  const multiNode = shape.nodes > 1
    ? [
        '',
        `On ${shape.nodes} nodes, start the same command on every node, each with its own rank (0 on the main node) and the main node's address:`,
        '',
        '```sh',
        ...Array.from({ length: Math.min(shape.nodes, 3) }, (_, i) => `accelerate launch --config_file accelerate/fsdp.yaml --machine_rank ${i} --main_process_ip MAIN_NODE_ADDRESS train.py --model PATH_OR_ID`),
        ...(shape.nodes > 3 ? ['# … up to --machine_rank ' + (shape.nodes - 1)] : []),
        '```',
      ]
    : [];
  return [
    `# Tunesmith recipe: ${method}`,
    '',
    `This folder trains the Tunesmith run \`${s.run}\` again with Hugging Face accelerate, on ${shape.nodes > 1 ? `${shape.nodes} nodes × ${shape.gpus} GPUs` : `${shape.gpus} GPU${shape.gpus > 1 ? 's' : ''}`}, with FSDP or DeepSpeed ZeRO-3.`,
    `It holds the run's ${counts.train} training and ${counts.val} validation examples already templated and tokenized as Tunesmith trained them,`,
    'the order each optimizer step took them in, and the method and hyper-parameters in `recipe.json`.',
    s.start ? `Training starts from the run's weights at its step ${s.start.step} checkpoint (\`${s.start.model ?? s.start.adapter}\`), with a fresh optimizer, and trains steps ${s.start.step + 1} to ${s.steps}.` : `Training starts from the base model, as the run did, and runs its ${s.steps} steps.`,
    '',
    '| File | What it is |',
    '| --- | --- |',
    '| `train.py` | the training script (transformers + PEFT + accelerate) |',
    '| `recipe.json` | the run\'s model, method and hyper-parameters |',
    '| `data/train.jsonl`, `data/val.jsonl` | one example per line: `input_ids`, and `labels` with -100 where the loss does not count |',
    '| `data/order.txt` | one line per optimizer step: the lines of `train.jsonl` it took, in order |',
    '| `accelerate/fsdp.yaml`, `accelerate/deepspeed-zero3.yaml` | accelerate configs for this cluster |',
    '| `requirements.txt` | the Python packages and the versions the recipe was checked with |',
    ...(s.start ? [`| \`${s.start.model ?? s.start.adapter}\` | the run's ${adapter ? 'adapter' : 'model'} at step ${s.start.step}, the starting point |`] : []),
    '',
    '## Set up',
    '',
    '```sh',
    'pip install -r requirements.txt',
    '```',
    '',
    `The base model is \`${s.model}\` on the machine that exported this recipe. Copy it to the cluster (or use its Hugging Face Hub id) and pass \`--model PATH_OR_ID\` to \`train.py\`, or edit \`model\` in \`recipe.json\`.`,
    '',
    '## Launch',
    '',
    'FSDP:',
    '',
    '```sh',
    `${recipeLaunchCommand(shape)} --model PATH_OR_ID`,
    '```',
    '',
    'DeepSpeed ZeRO-3:',
    '',
    '```sh',
    'accelerate launch --config_file accelerate/deepspeed-zero3.yaml train.py --model PATH_OR_ID',
    '```',
    ...multiNode,
    '',
    'A smoke test, two processes, three steps (on a machine without a GPU they train together on the CPU; `accelerate launch --cpu` starts one process only):',
    '',
    '```sh',
    'accelerate launch --multi_gpu --num_processes 2 train.py --max-steps 3',
    '```',
    '',
    'Each optimizer step prints `step N: loss X`: the mean loss over the target tokens of each micro-batch, on all processes together, averaged over the step\'s micro-batches; the number Tunesmith shows for that step.',
    'At the end, `val loss: X` is the mean loss over the target tokens of `data/val.jsonl`.',
    '',
    '## Batch size',
    '',
    `Tunesmith took ${s.batchSize} examples per micro-batch × ${s.gradAccum} micro-batch${s.gradAccum > 1 ? 'es' : ''} of accumulation = ${perStep} examples per optimizer step.`,
    'On the cluster the global batch is per-device batch × processes × accumulation. By default `train.py` splits each of Tunesmith\'s micro-batches over the processes, so the global batch, the data order and the loss are the run\'s.',
    splits
      ? `On ${processes} processes that is ${s.batchSize / processes} example${s.batchSize / processes > 1 ? 's' : ''} per process × ${processes} × ${s.gradAccum} = ${perStep}.`
      : `But ${s.batchSize} examples do not split over ${processes} processes: pass \`--per-device-batch-size N\` (and \`--grad-accum A\`), and each step takes N × ${processes} × A examples of \`data/order.txt\` in order: fewer, larger steps (the schedule is stretched to match).`,
    'With DeepSpeed, `gradient_accumulation_steps` in `accelerate/deepspeed-zero3.yaml` must equal the accumulation `train.py` uses.',
    '',
    '## Bring the result back',
    '',
    adapter
      ? `\`output/\` is a PEFT adapter (\`adapter_config.json\`, \`adapter_model.safetensors\`). Score or chat with it on its base in Tunesmith:`
      : '`output/` is a Hugging Face model folder (weights, config, tokenizer). Open it in Tunesmith as a model (Model step, or `--model output`):',
    '',
    '```sh',
    ...(adapter
      ? [
          `tunesmith score --model ${s.model} --adapter output${s.method === 'qlora' ? ' --quant nf4' : ''} --text "…"`,
          `tunesmith generate --model ${s.model} --adapter output${s.method === 'qlora' ? ' --quant nf4' : ''} --prompt "…"`,
        ]
      : ['tunesmith score --model output --text "…"', 'tunesmith generate --model output --prompt "…"']),
    '```',
    '',
    '## What carries over and what does not',
    '',
    '- Carried over: the examples and their tokens, template and loss masks; the data order; the method and its settings; learning rate, schedule, warm-up, optimizer, weight decay, gradient clipping, accumulation and seed.',
    '- The first step\'s loss is Tunesmith\'s (the same weights on the same tokens). Later steps follow the same recipe but not bit for bit: GPUs compute in bf16, and random draws (LoRA\'s initial A matrices, dropout masks, the layers LISA samples) come from PyTorch\'s and Python\'s generators, not the engine\'s.',
    '- Not carried over: the optimizer state of a checkpoint (a run is not resumed; `--from-step` starts from its weights with a fresh optimizer), and zeroth-order methods (no distributed zeroth-order trainer exists).',
    ...(s.method === 'lisa'
      ? ["- LISA changes which weights train every few steps: checked with plain data parallelism; FSDP allows it with `fsdp_use_orig_params: true` (set in `accelerate/fsdp.yaml`), DeepSpeed ZeRO-3 does not expect it, so prefer FSDP."]
      : []),
    '- Checked by Tunesmith\'s tests: full and LoRA runs on the CPU with two data-parallel processes (`accelerate launch --multi_gpu --num_processes 2` without a GPU). Not run there: the FSDP and DeepSpeed configs on GPUs, QLoRA (bitsandbytes) and DeepSpeed themselves.',
    '',
  ].join('\n');
}
