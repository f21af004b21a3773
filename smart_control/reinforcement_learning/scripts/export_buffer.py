r"""Exports a replay buffer as a Minari dataset or a Parquet table; imports Minari.

Export (the buffer is only read):

    python -m smart_control.reinforcement_learning.scripts.export_buffer \
        --buffer=starter_buffers/my-starter-buffer --format=minari \
        --output=exports/my-starter-buffer-v0
    ... --format=parquet --output=exports/my-starter-table --column_names=building

Import a Minari dataset written by an export into a new buffer directory
(written through ReplayBufferManager, so it loads like any buffer):

    python -m smart_control.reinforcement_learning.scripts.export_buffer \
        --import_minari=exports/my-starter-buffer-v0 --root_dir=starter_buffers/again

or `smart-control-export ...`. Minari: `<output>/data` opens with
`minari.MinariDataset`; Parquet: `pandas.read_parquet("<output>/transitions.parquet")`.
Every output also holds export.json (provenance and summary; import.json in
a new buffer), operative_config.gin and logs/native.log. An existing output is
replaced only with --overwrite, and only if it is an export (or a buffer).
The content hash printed is recomputed from the stored steps and compared
with the source's populate.json.
"""

from __future__ import annotations

import os

from absl import flags

from smart_control.reinforcement_learning.utils import binary, gin_configs, native_logs

FORMATS = ("minari", "parquet")
COLUMN_NAMES = ("index", "building")


def define_flags() -> None:
    """Defines this binary's flags (called by `run`, never on import)."""
    binary.define_common_flags(
        root_dir_help="Import: the new buffer directory to write (export: use --output)."
    )
    flags.DEFINE_string("buffer", None, "Export: the buffer directory to export.")
    flags.DEFINE_string("format", "minari", f"Export: {' or '.join(FORMATS)}.")
    flags.DEFINE_string("output", None, "Export: the directory to write.")
    flags.DEFINE_string(
        "import_minari",
        None,
        "Import: a Minari dataset directory written by an export (needs --root_dir).",
    )
    flags.DEFINE_boolean(
        "overwrite", False, "Replace an existing export (or imported buffer)."
    )
    flags.DEFINE_string(
        "table_name", None, "Export: the table to read, if the checkpoint has several."
    )
    flags.DEFINE_string(
        "dataset_id",
        None,
        "Minari dataset id 'name-v0'; default the --output directory's name.",
    )
    flags.DEFINE_string("description", None, "Minari dataset description.")
    flags.DEFINE_string("author", None, "Minari dataset author.")
    flags.DEFINE_string(
        "column_names",
        "index",
        "Parquet: 'index' (observation/0, ...) or 'building' (the office "
        "building's observation and action names).",
    )
    flags.DEFINE_integer(
        "capacity", None, "Import: capacity of the new buffer; default the source's."
    )


FLAGS = flags.FLAGS


def _check_export_flags() -> str:
    """Everything an export can refuse before TensorFlow loads."""
    from smart_control.reinforcement_learning.datasets import paths

    if FLAGS.root_dir:
        raise binary.UserError(
            "--root_dir names the new buffer of --import_minari; an export "
            "writes to --output"
        )
    if FLAGS.format not in FORMATS:
        raise binary.UserError(
            f"--format must be {' or '.join(FORMATS)}, got {FLAGS.format!r}"
        )
    if FLAGS.column_names not in COLUMN_NAMES:
        raise binary.UserError(
            f"--column_names must be {' or '.join(COLUMN_NAMES)}, "
            f"got {FLAGS.column_names!r}"
        )
    if not FLAGS.output:
        raise binary.UserError("--output is required for an export")
    paths.find_checkpoint(FLAGS.buffer)
    binary.check_output_dir(FLAGS.output, "output")
    output = paths.check_output(
        FLAGS.output, FLAGS.overwrite, paths.is_export, "an export"
    )
    if os.path.abspath(FLAGS.buffer) == output:
        raise binary.UserError("--output must not be the buffer itself")
    return output


def _check_import_flags() -> str:
    from smart_control.reinforcement_learning.datasets import paths

    if not FLAGS.root_dir:
        raise binary.UserError(
            "--root_dir (the new buffer directory) is required with --import_minari"
        )
    if not os.path.exists(os.path.expanduser(FLAGS.import_minari)):
        raise binary.UserError(f"no such Minari dataset: {FLAGS.import_minari}")
    binary.check_flag_int("capacity", 1)
    return paths.check_output(
        FLAGS.root_dir, FLAGS.overwrite, paths.is_buffer, "a replay buffer"
    )


def main(argv):
    binary.check_no_arguments(argv)
    if FLAGS.buffer and FLAGS.import_minari:
        raise binary.UserError(
            "--buffer (export) and --import_minari exclude each other"
        )
    if not FLAGS.buffer and not FLAGS.import_minari:
        raise binary.UserError("give --buffer to export, or --import_minari to import")
    importing = bool(FLAGS.import_minari)
    output = _check_import_flags() if importing else _check_export_flags()

    with native_logs.quiet_native_logs(None):
        from smart_control.reinforcement_learning.datasets import export

        # Importing the environment registers its configurables: before gin.
        column_names = (
            export.building_column_names()
            if FLAGS.column_names == "building" and not importing
            else None
        )
    gin_configs.parse_gin(FLAGS.gin_file, FLAGS.gin_bindings)
    if importing:
        summary = export.import_minari(
            FLAGS.import_minari,
            output,
            capacity=FLAGS.capacity,
            overwrite=FLAGS.overwrite,
        )
    elif FLAGS.format == "minari":
        summary = export.export_minari(
            FLAGS.buffer,
            output,
            dataset_id=FLAGS.dataset_id,
            description=FLAGS.description,
            author=FLAGS.author,
            table_name=FLAGS.table_name,
            overwrite=FLAGS.overwrite,
        )
    else:
        summary = export.export_parquet(
            FLAGS.buffer,
            output,
            column_names=column_names,
            table_name=FLAGS.table_name,
            overwrite=FLAGS.overwrite,
        )
    native_logs.attach_native_log(output)
    gin_configs.write_operative_config(output)
    _print_summary(summary, export)
    return 0


def _print_summary(summary, export) -> None:
    what = {
        "minari": "Minari dataset",
        "parquet": f"Parquet table of {summary.rows} rows",
        "buffer": f"replay buffer of {summary.items} items",
    }[summary.format]
    print(
        f"Wrote a {what}: {summary.episodes} episodes, {summary.runs} runs, "
        f"{summary.steps} environment steps ({summary.items} items)"
    )
    if summary.populate_content_hash is None:
        verdict = "no populate.json to compare with"
    elif summary.hash_matches_populate:
        verdict = "matches populate.json"
    else:
        verdict = (
            f"populate.json records {summary.populate_content_hash}: "
            f"{summary.hash_note or 'differs'}"
        )
    print(f"  content hash: {summary.content_hash} ({verdict})")
    where = {
        "minari": f"{summary.output} (minari.MinariDataset('{summary.output}/data'))",
        "parquet": os.path.join(summary.output, export.PARQUET_FILE),
        "buffer": summary.output,
    }[summary.format]
    print(f"  written to:   {where}")


def run() -> None:
    """Console entry point (smart-control-export)."""
    define_flags()
    binary.run(main, network=binary.PRIVATE)


if __name__ == "__main__":
    run()
