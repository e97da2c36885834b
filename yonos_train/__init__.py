"""yonos_train: the YONOS-SR method — schedule, pipeline, data, losses and training stages."""
