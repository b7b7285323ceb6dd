"""Capable-to-promise (layer 3): the earliest line slot whose parts can be ready, and the delivery date.

`Promiser(plant, catalogue).promise(order, now_s) -> Promise` books a takt slot of the line that can
build the order and delivers it first, and the feeder shops' work by day; `estimate_delivery`
re-checks a promise after a fault.
"""

from mixflow.promise.ctp import Promise, Promiser, PromiseRules
from mixflow.promise.slots import SlotBook

__all__ = ["Promise", "PromiseRules", "Promiser", "SlotBook"]
