"""The artifact lifecycle: one vocabulary and one table of transitions (spec: Metadata Tracking,
Stage Deployment + Testing, Production Deployment + Smoke Testing, Configurable Rollback Retry Policy).

Everything that writes an item's state is rendered from here: the state machine's lease (its
`ConditionExpression`), the transition Lambda, promotion's claim, rollback and the finalizer. A rule is
written once, in `TRANSITIONS` (`table.py`; its shapes are in `model.py`, its words in `vocabulary.py`);
`tests/functions/pipeline/test_lifecycle.py` walks the table against the spec's lifecycle.

Pure: no AWS, no Pulumi. `components/` imports it to build the ASL.
"""

from .model import *  # noqa: F403
from .overrides import *  # noqa: F403
from .parking import *  # noqa: F403
from .repairs import *  # noqa: F403
from .table import *  # noqa: F403
from .vocabulary import *  # noqa: F403
