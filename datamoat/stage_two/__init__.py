"""Stage two's loop: the merger reads the partials topic (:mod:`datamoat.stage_two.merge_loop`)
or takes deltas in process (:mod:`datamoat.stage_two.local`), merges them with
:mod:`process.stage_two`, and writes the signals to the sinks
(:mod:`datamoat.stage_two.emitter`)."""
