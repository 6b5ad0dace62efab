"""The last hop to a keyed operator that knows when its input ended (:class:`EndAwareFunction`).

Rows are spread round-robin over ``ROUTE_KEYS`` keys, a marker per key from a bounded source
makes every subtask register an event-time timer, and bounded sources end with the maximal
watermark, which fires those timers only after every row arrived.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from pyflink.common import Types, WatermarkStrategy
from pyflink.datastream.connectors.number_seq import NumberSequenceSource
from pyflink.datastream.functions import KeyedProcessFunction, MapFunction, RuntimeContext
from pyflink.datastream.time_domain import TimeDomain

from .rows import Row

if TYPE_CHECKING:
    from pyflink.datastream import DataStream, StreamExecutionEnvironment

ROUTE_KEYS = 4096  # >> 128 key groups: every subtask owns some key (miss odds ~ 128 e^-32)
END_OF_INPUT = 2**62  # event-time timer fired only by the final (maximal) watermark
ROUTED = Types.TUPLE([Types.INT(), Types.PICKLED_BYTE_ARRAY()])


class _RoundRobin(MapFunction):
    def __init__(self) -> None:
        self.n = 0

    def open(self, runtime_context: RuntimeContext) -> None:
        self.n = runtime_context.get_index_of_this_subtask() * 7919

    def map(self, row: Row) -> tuple[int, Row]:
        self.n += 1
        return self.n % ROUTE_KEYS, row


def to_subtasks(env: StreamExecutionEnvironment, rows: DataStream, group: str) -> Any:
    """Key ``rows`` for an :class:`EndAwareFunction`; apply it with ``.process(fn)``."""
    routed = rows.map(_RoundRobin(), output_type=ROUTED).name("route").slot_sharing_group(group)
    markers = (
        env.from_source(NumberSequenceSource(0, ROUTE_KEYS - 1), WatermarkStrategy.no_watermarks(), "end-markers")
        .set_parallelism(1)
        .slot_sharing_group(group)
        .map(lambda k: (int(k), None), output_type=ROUTED)
        .set_parallelism(1)
        .slot_sharing_group(group)
    )
    return routed.union(markers).key_by(lambda t: t[0], key_type=Types.INT())


class EndAwareFunction(KeyedProcessFunction):
    """Base of row consumers that must act once all input arrived (flush, close TF's input).

    Subclasses implement ``row(row, ctx)`` and ``end()``, both returning output records, and may
    call ``want_flush`` to get ``flush()`` after a delay (a partial batch on a slow stream).
    """

    def __init__(self) -> None:
        self._keys: set[int] = set()
        self._ended = False
        self._flush_due: float | None = None

    def process_element(self, value: tuple[int, Row | None], ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        key, row = value
        if key not in self._keys:
            self._keys.add(key)
            ctx.timer_service().register_event_time_timer(END_OF_INPUT)
        if row is not None:
            yield from self.row(row, ctx)

    def want_flush(self, ctx: KeyedProcessFunction.Context, millis: int) -> None:
        if self._flush_due is None:
            now = ctx.timer_service().current_processing_time()
            self._flush_due = now + millis
            ctx.timer_service().register_processing_time_timer(self._flush_due)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[Any]:
        if ctx.time_domain() == TimeDomain.PROCESSING_TIME:
            self._flush_due = None
            if not self._ended:
                yield from self.flush()
            return
        if not self._ended:  # the first end timer: every key's input is complete
            self._ended = True
            yield from self.end()

    def row(self, row: Row, ctx: KeyedProcessFunction.Context) -> Iterable[Any]:
        raise NotImplementedError

    def flush(self) -> Iterable[Any]:
        return ()

    def end(self) -> Iterable[Any]:
        return ()
