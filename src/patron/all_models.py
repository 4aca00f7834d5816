"""Import every domain's models so the metadata is complete (migrations, tests)."""

from patron.accounts import models as accounts_models  # noqa: F401
from patron.campaigns import models as campaigns_models  # noqa: F401
from patron.contests import models as contests_models  # noqa: F401
from patron.core import audit  # noqa: F401
from patron.core.db import Base
from patron.customers import models as customers_models  # noqa: F401
from patron.devices import models as devices_models  # noqa: F401
from patron.events import models as events_models  # noqa: F401
from patron.interactions import models as interactions_models  # noqa: F401
from patron.loyalty import models as loyalty_models  # noqa: F401
from patron.notify import models as notify_models  # noqa: F401
from patron.orders import models as orders_models  # noqa: F401
from patron.predictions import models as predictions_models  # noqa: F401
from patron.rules import models as rules_models  # noqa: F401
from patron.sales import models as sales_models  # noqa: F401
from patron.segments import models as segments_models  # noqa: F401
from patron.surveys import models as surveys_models  # noqa: F401
from patron.tickets import models as tickets_models  # noqa: F401

metadata = Base.metadata
