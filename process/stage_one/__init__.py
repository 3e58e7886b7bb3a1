"""Stage one's computation: per input partition, posts into open windows and closed
windows out as deltas (:mod:`process.stage_one.partitions`). Its loop is
:mod:`datamoat.stage_one`."""
