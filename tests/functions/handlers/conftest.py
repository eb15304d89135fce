"""The handlers run over the pipeline core: the same moto table, settings and buckets."""

from tests.functions.pipeline.conftest import aws, settings, table  # noqa: F401 - fixtures
