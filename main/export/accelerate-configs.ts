// The recipe's accelerate config files (what `accelerate config` would write) for N GPUs on one or
// several nodes: FSDP with full sharding, and DeepSpeed ZeRO-3. Both train in bf16 mixed precision
// with f32 master weights and save a full (gathered) state dict, so the output is an ordinary model
// or adapter folder.

export interface ClusterShape {
  /** GPUs per node. */
  gpus: number;
  nodes: number;
}

function launchFields(shape: ClusterShape): string[] {
  const lines = [`num_machines: ${shape.nodes}`, `num_processes: ${shape.gpus * shape.nodes}  # all GPUs on all nodes`];
  if (shape.nodes > 1) {
    lines.push(
      'machine_rank: 0  # on each node: accelerate launch --machine_rank I (0 on the main node)',
      'main_process_ip: MAIN_NODE_ADDRESS  # replace with the main node address, or pass --main_process_ip',
      'main_process_port: 29500',
      'rdzv_backend: static',
      'same_network: true',
    );
  } else {
    lines.push('machine_rank: 0');
  }
  return lines;
}

/**
 * FSDP: decoder layers are the wrapping unit (the model's own _no_split_modules, so any
 * architecture works); use_orig_params lets LISA freeze and unfreeze layers and PEFT mix frozen
 * and trainable weights.
 */
export function fsdpConfig(shape: ClusterShape): string {
  return [
    '# accelerate config: FSDP (full sharding) on ' + describe(shape),
    'compute_environment: LOCAL_MACHINE',
    'distributed_type: FSDP',
    'mixed_precision: bf16',
    'downcast_bf16: "no"',
    ...launchFields(shape),
    'use_cpu: false',
    'fsdp_config:',
    '  fsdp_version: 1',
    '  fsdp_sharding_strategy: FULL_SHARD',
    '  fsdp_auto_wrap_policy: TRANSFORMER_BASED_WRAP',
    '  fsdp_backward_prefetch: BACKWARD_PRE',
    '  fsdp_forward_prefetch: false',
    '  fsdp_state_dict_type: FULL_STATE_DICT',
    '  fsdp_offload_params: false',
    '  fsdp_cpu_ram_efficient_loading: true',
    '  fsdp_sync_module_states: true',
    '  fsdp_use_orig_params: true',
    '',
  ].join('\n');
}

/** DeepSpeed ZeRO-3: accumulation and clipping live in DeepSpeed's config, so they are the run's. */
export function deepspeedZero3Config(shape: ClusterShape, run: { gradAccum: number; maxGradNorm: number }): string {
  return [
    '# accelerate config: DeepSpeed ZeRO-3 on ' + describe(shape),
    'compute_environment: LOCAL_MACHINE',
    'distributed_type: DEEPSPEED',
    'mixed_precision: bf16',
    ...launchFields(shape),
    'use_cpu: false',
    'deepspeed_config:',
    '  zero_stage: 3',
    `  gradient_accumulation_steps: ${run.gradAccum}  # must equal train.py's (--grad-accum)`,
    `  gradient_clipping: ${run.maxGradNorm > 0 ? run.maxGradNorm : 0}`,
    '  offload_optimizer_device: none  # cpu to fit a larger model in GPU memory',
    '  offload_param_device: none',
    '  zero3_init_flag: true',
    '  zero3_save_16bit_model: true',
    '',
  ].join('\n');
}

function describe(shape: ClusterShape): string {
  return `${shape.nodes} node${shape.nodes > 1 ? 's' : ''} × ${shape.gpus} GPU${shape.gpus > 1 ? 's' : ''}`;
}
