"""Stage one's loop: the worker (:mod:`datamoat.stage_one.worker`) polls its source, folds
posts into :mod:`process.stage_one` and commits each micro-batch through its output
(:mod:`datamoat.stage_one.output`: the partials topic, in a Kafka transaction)."""
