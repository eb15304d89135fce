"""Stack configuration: pydantic models and the loader that validates a stack's config bag."""

from .load import PROJECT, ConfigError, disabled_default_providers, load_stack_config, read_stack_file
from .models import AccountRole, Service, ServiceEnvironment, StackConfig

__all__ = [
    "PROJECT",
    "AccountRole",
    "ConfigError",
    "Service",
    "ServiceEnvironment",
    "StackConfig",
    "disabled_default_providers",
    "load_stack_config",
    "read_stack_file",
]
