"""The data contract between `pipelines/` (which writes it) and `m2_train/` (which reads it): the
versioned record layout (records) and a shard set's files and manifest (shardset)."""
