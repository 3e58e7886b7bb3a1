"""Stage two's computation: deltas merged into final signals once every input partition
has passed a window, with trends and cascades (:mod:`process.stage_two.merger`). Its loop
is :mod:`datamoat.stage_two`."""
