"""Replay buffers as offline-RL datasets: Minari export and import, Parquet export.

Modules:
  buffer_contents  the trajectories a buffer holds, as episodes and runs
  buffer_reader    reads a buffer directory's newest checkpoint (read-only)
  buffer_writer    writes contents into a new buffer via ReplayBufferManager
  content_hash     the populate content hash, recomputed from stored data
  spec_codec       the data spec as JSON text (and back)
  spaces           the data spec as gymnasium spaces
  minari_format    contents <-> a Minari dataset directory
  parquet_format   contents -> a flat Parquet table
  paths            the buffer's checkpoint; refusing and replacing outputs
  export           the library entry points the `export_buffer` binary calls
"""
