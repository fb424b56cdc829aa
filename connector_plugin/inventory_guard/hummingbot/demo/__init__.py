"""``inventory-guard demo``: a guarded market maker on the simulated Polymarket-style venue, headless.

A Hummingbot V2 script (``DemoMarketMaker``, a ``GuardedStrategyV2Base``) quotes a bid and an ask around the mid
of ``YES-USDC`` on ``sim_clob`` (``sim.SimClobExchange``, a real ``ExchangePyBase`` connector over the in-process
``sim.SimExchange``). Every buy/sell goes through the guard (``GuardBridge``); fills, phantom fills, duplicate
deliveries, lagging balances and user-stream reconnects come from the venue. The simulated clock runs ``--speed``
times faster than the wall clock. A status table refreshes in the terminal (or a line is printed every simulated
minute with ``--no-live`` / when stdout is not a TTY), and a summary and a chart end the run (Ctrl-C ends it early,
with the summary).

Nothing here needs the Hummingbot client: ``session.headless_hummingbot()`` installs a no-op ``MarketsRecorder``
for the executor orchestrator, and ``DemoMarketMaker.start`` skips the client's MQTT lookup.

The parts (one job each):

- ``settings``: what a session is made of (``SessionSettings``, ``DEMO_VENUE``); guard and adapter keys keep the
  defaults of their one declaration (``inventory_guard.config``, ``inventory_guard.hummingbot.config``);
- ``cli``: the demo's one argument parser (``add_arguments``, ``run_from_args``, ``main``), used by
  ``inventory-guard demo``, ``python -m inventory_guard.hummingbot.demo`` and ``bootstrap.sh demo``;
- ``strategy``: the demo market maker;
- ``session``: venue + connector + strategy + bridge on the simulated clock, and what it observed;
- ``report``: the summary, the status line and table, the chart (drawn by ``chart``);
- ``exporter``: the metrics sidecar process;
- ``run``: ``run_demo``, one run in the terminal (log file, Ctrl-C, refreshing display, summary).

``settings`` and ``cli`` import nothing of Hummingbot (the main CLI builds its parser without the extra).
"""
