# inventory-guard shim (written by `inventory-guard hummingbot init`): Hummingbot imports scripts/<name>.py and
# takes the first StrategyV2Base / config class it finds, so this file must expose exactly these two classes.
from inventory_guard.hummingbot.example import InventoryGuardedExample, InventoryGuardedExampleConfig  # noqa: F401
