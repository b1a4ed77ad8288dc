"""Masked-LM and next-sentence pretraining, with the original run_pretraining.py command line.

  python run_pretraining.py --input_file=out/tf_examples.tfrecord --output_dir=out/pretraining \
      --do_train --do_eval --bert_config_file=uncased_L-12_H-768_A-12/bert_config.json \
      --init_checkpoint=uncased_L-12_H-768_A-12/bert_model.ckpt --train_batch_size=32 \
      --max_seq_length=128 --max_predictions_per_seq=20 --num_train_steps=20 --num_warmup_steps=10 \
      --learning_rate=2e-5

Reads the records of create_pretraining_data.py (this project's or the original's), writes
`model.ckpt-<step>` checkpoints in the original format (with `cls/*` heads, Adam slots and `global_step`)
and `eval_results.txt` with the original keys. Rerunning the same command after an interruption resumes
from the newest checkpoint in --output_dir.
"""
import sys

from absl import app, flags

FLAGS = flags.FLAGS

# The original flags.
flags.DEFINE_string("bert_config_file", None, "The config json file corresponding to the pre-trained BERT model.")
flags.DEFINE_string("input_file", None, "Input TF example files (can be a glob or comma separated).")
flags.DEFINE_string("output_dir", None, "The output directory where the model checkpoints will be written.")
flags.DEFINE_string("init_checkpoint", None, "Initial checkpoint (usually from a pre-trained BERT model).")
flags.DEFINE_integer("max_seq_length", 128, "The maximum total input sequence length after WordPiece tokenization.")
flags.DEFINE_integer("max_predictions_per_seq", 20, "Maximum number of masked LM predictions per sequence.")
flags.DEFINE_bool("do_train", False, "Whether to run training.")
flags.DEFINE_bool("do_eval", False, "Whether to run eval on the dev set.")
flags.DEFINE_integer("train_batch_size", 32, "Total batch size for training.")
flags.DEFINE_integer("eval_batch_size", 8, "Total batch size for eval.")
flags.DEFINE_float("learning_rate", 5e-5, "The initial learning rate for Adam.")
flags.DEFINE_integer("num_train_steps", 100000, "Number of training steps.")
flags.DEFINE_integer("num_warmup_steps", 10000, "Number of warmup steps.")
flags.DEFINE_integer("save_checkpoints_steps", 1000, "How often to save the model checkpoint.")
flags.DEFINE_integer("iterations_per_loop", 1000, "How many steps to make in each estimator call (accepted).")
flags.DEFINE_integer("max_eval_steps", 100, "Maximum number of eval steps.")
flags.DEFINE_bool("use_tpu", False, "Whether to use TPU (same as --strategy=tpu).")
flags.DEFINE_string("tpu_name", None, "The Cloud TPU to use for training.")
flags.DEFINE_string("tpu_zone", None, "GCE zone where the Cloud TPU is located in (accepted).")
flags.DEFINE_string("gcp_project", None, "Project name for the Cloud TPU-enabled project (accepted).")
flags.DEFINE_string("master", None, "TensorFlow master URL (accepted).")
flags.DEFINE_integer("num_tpu_cores", 8, "Only used if use_tpu is True (accepted).")
# bert_tf additions.
flags.DEFINE_enum("strategy", "one_device", ["one_device", "mirrored", "multi_worker_mirrored", "tpu"],
                  "tf.distribute strategy.")
flags.DEFINE_bool("use_xla", False, "Compile the training step with XLA.")
flags.DEFINE_enum("dtype", "float32", ["float32", "mixed_float16", "mixed_bfloat16"], "Compute dtype policy.")
flags.DEFINE_enum("optimizer", "adamw", ["adamw", "lamb"], "adamw: the original AdamWeightDecay; lamb: Keras' LAMB.")
flags.DEFINE_integer("num_accumulation_steps", 1,
                     "Accumulate gradients over this many batches of train_batch_size before each update: "
                     "the same update as one batch of train_batch_size * num_accumulation_steps.")
flags.DEFINE_integer("keep_checkpoint_max", 5, "How many of the newest checkpoints to keep.")
flags.DEFINE_integer("seed", None, "Random seed (data order, dropout, new weights).")
flags.DEFINE_integer("log_every_steps", 100, "Log and write TensorBoard summaries every this many steps.")


def main(argv):
    del argv
    from bert_tf import pretrain
    from bert_tf.checkpoint import CheckpointError
    from bert_tf.data.pretraining_records import PretrainingRecordError

    for name in ("bert_config_file", "input_file", "output_dir"):
        if not FLAGS[name].value:
            print(f"run_pretraining.py: error: --{name} is required", file=sys.stderr)
            return 1
    config = pretrain.PretrainingRunConfig(
        bert_config_file=FLAGS.bert_config_file,
        input_file=FLAGS.input_file,
        output_dir=FLAGS.output_dir,
        init_checkpoint=FLAGS.init_checkpoint,
        max_seq_length=FLAGS.max_seq_length,
        max_predictions_per_seq=FLAGS.max_predictions_per_seq,
        do_train=FLAGS.do_train,
        do_eval=FLAGS.do_eval,
        train_batch_size=FLAGS.train_batch_size,
        eval_batch_size=FLAGS.eval_batch_size,
        learning_rate=FLAGS.learning_rate,
        num_train_steps=FLAGS.num_train_steps,
        num_warmup_steps=FLAGS.num_warmup_steps,
        save_checkpoints_steps=FLAGS.save_checkpoints_steps,
        iterations_per_loop=FLAGS.iterations_per_loop,
        max_eval_steps=FLAGS.max_eval_steps,
        keep_checkpoint_max=FLAGS.keep_checkpoint_max,
        optimizer=FLAGS.optimizer,
        num_accumulation_steps=FLAGS.num_accumulation_steps,
        strategy="tpu" if FLAGS.use_tpu else FLAGS.strategy,
        tpu_address=FLAGS.tpu_name or FLAGS.master,
        use_xla=FLAGS.use_xla,
        dtype=FLAGS.dtype,
        seed=FLAGS.seed,
        log_every_steps=FLAGS.log_every_steps,
    )
    try:
        results = pretrain.run(config)
    except (pretrain.PretrainingRunError, PretrainingRecordError, CheckpointError, FileNotFoundError,
            ValueError) as error:
        print(f"run_pretraining.py: error: {error}", file=sys.stderr)
        return 1
    if "eval" in results:
        print("***** Eval results *****")
        for key in sorted(results["eval"]):
            print(f"  {key} = {results['eval'][key]}")
    return 0


if __name__ == "__main__":
    app.run(main)
