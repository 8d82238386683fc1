"""The base of the product's own pydantic models: each is built when first used, not when its
module is imported.

A process imports some 150 of them and uses a few: the worker none of the API's, a spawned
gateway those of the requests it serves. Building a model (its validator, its serializer) was
a tenth of every process's start; deferred, the first use pays it once (about a millisecond a
model), and each test process, gateway and worker only for what it uses."""

from pydantic import BaseModel, ConfigDict

__all__ = ["Model"]


class Model(BaseModel):
    # A subclass's own model_config is merged with this one: it keeps the deferral.
    model_config = ConfigDict(defer_build=True)
