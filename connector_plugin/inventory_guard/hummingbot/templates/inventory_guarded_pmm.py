# inventory-guard shim (written by `inventory-guard hummingbot init`): Hummingbot imports
# controllers.market_making.<name> and takes the first config/controller class by name, so this file must expose
# exactly these two classes.
from inventory_guard.hummingbot.pmm import InventoryGuardedPMMConfig, InventoryGuardedPMMController  # noqa: F401
