"""Capable-to-promise (layer 3): the earliest line slot whose parts can be ready, and the delivery date.

`Promiser(plant, catalogue).promise(order, now_s) -> Promise` books a takt slot of the line that can
build the order and delivers it first, and the feeder shops' work by day; `estimate_delivery`
re-checks a promise after a fault. `MaterialLedger` nets the bought items against the orders promised
(MRP): given to the Promiser, promises count on material and reserve it.
"""

from mixflow.promise.ctp import Promise, Promiser, PromiseRules
from mixflow.promise.materials import Endangered, MaterialLedger, PlannedPurchase
from mixflow.promise.slots import SlotBook

__all__ = [
    "Endangered",
    "MaterialLedger",
    "PlannedPurchase",
    "Promise",
    "PromiseRules",
    "Promiser",
    "SlotBook",
]
