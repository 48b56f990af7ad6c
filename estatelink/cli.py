"""The `estatelink` command: central, gateway, sim and demo."""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys


NOISY_LIBRARIES = ("transitions", "amqtt", "alembic")


def _central(args: argparse.Namespace) -> int:
    from central.config import CentralConfigError, load_central_config
    from central.serve import serve

    try:
        config = load_central_config(args.config)
    except CentralConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    overrides = {}
    if args.database_url:
        overrides["database"] = config.database.model_copy(update={"url": args.database_url})
    if args.broker_url or args.broker_protocol or args.embedded_broker_port:
        update = {k: v for k, v in (("url", args.broker_url), ("protocol", args.broker_protocol),
                                    ("embedded_port", args.embedded_broker_port)) if v}
        overrides["broker"] = config.broker.model_copy(update=update)
    if args.port is not None:
        overrides["http"] = config.http.model_copy(update={"port": args.port})
    config = config.model_copy(update=overrides)
    if getattr(args, "admin_command", None):
        from central import admin_cli

        return asyncio.run(getattr(admin_cli, args.admin_command)(config, args))
    asyncio.run(serve(config))
    return 0


def _gateway(args: argparse.Namespace) -> int:
    from edge_config import ConfigError, load_config
    from gateway.runtime import serve

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    asyncio.run(serve(config))
    return 0


def _sim(args: argparse.Namespace) -> int:
    if args.simulator == "modbus-meter" and args.tcp is None and not args.rtu:
        print("estatelink sim modbus-meter: give --tcp PORT, --rtu, or both", file=sys.stderr)
        return 2

    async def until_stopped() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await args.sim_run(args)
        except asyncio.CancelledError:
            pass  # a stop signal: the simulator has cleaned up (links removed, pty closed)

    asyncio.run(until_stopped())
    return 0


def _demo(args: argparse.Namespace) -> int:
    from estatelink.demo import run_demo

    return asyncio.run(run_demo(args))


ROLES = ("admin", "manager", "cashier", "guard", "technician", "patrol", "resident")


def _add_central_commands(commands: argparse._SubParsersAction) -> None:
    """Central's administrative commands; their code is imported only when one runs."""
    commands.add_parser("serve", help="run the central service (what `estatelink central` does by default)")
    user = commands.add_parser("create-user", help="create an account (the first admin, typically)")
    user.add_argument("--username", required=True)
    user.add_argument("--role", required=True, choices=ROLES)
    user.add_argument("--estate", action="append", default=[], help="an estate the user may see (repeatable)")
    user.add_argument("--password-file", help="read the password from this file (else prompt, or stdin if piped)")
    user.add_argument("--token", action="store_true", help="also print a new API token for this user")
    user.add_argument("--resident-id", type=int)
    user.set_defaults(admin_command="create_user")
    backup = commands.add_parser("backup", help="write a consistent backup of the live database to FILE")
    backup.add_argument("file")
    backup.set_defaults(admin_command="backup_database")
    restore = commands.add_parser("restore", help="replace the database with a backup (stop central first)")
    restore.add_argument("file")
    restore.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    restore.set_defaults(admin_command="restore_database")
    sheets = ["buildings", "units", "staff", "parking", "vehicles"]
    load = commands.add_parser("import", help="import a CSV or XLSX of units/residents, staff, parking, vehicles")
    load.add_argument("file")
    load.add_argument("--estate", required=True, help="the estate the records belong to")
    load.add_argument("--sheet", choices=sheets, help="which sheet (default: from the headers or worksheet titles)")
    load.add_argument("--dry-run", action="store_true", help="check every row and report; write nothing")
    load.add_argument("--quiet", action="store_true", help="no progress bar")
    load.set_defaults(admin_command="import_records")
    dump = commands.add_parser("export", help="export the same sheets to FILE (.csv for one sheet, .xlsx)")
    dump.add_argument("file")
    dump.add_argument("--estate", required=True)
    dump.add_argument("--sheet", choices=sheets, help="one sheet (required for CSV; default: all, XLSX)")
    dump.add_argument("--lang", choices=["en", "zh"], default="en", help="header language (default en)")
    dump.set_defaults(admin_command="export_records")
    bills = commands.add_parser("bill-run", help="preview or post an estate's bill run for a month")
    bills.add_argument("--estate", required=True)
    bills.add_argument("--period", required=True, help="the month, YYYY-MM (estate time)")
    bills.add_argument("--preview", action="store_true", help="price and report only; post nothing")
    bills.add_argument("--quiet", action="store_true", help="no progress bar")
    bills.set_defaults(admin_command="bill_run")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="estatelink", description=__doc__)
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    commands = parser.add_subparsers(dest="command", required=True)

    central = commands.add_parser("central", help="run the central service")
    central.add_argument("--config", help="central TOML config (defaults apply without one)")
    central.add_argument("--database-url", help="sqlite:///path or postgresql://user@host/db")
    central.add_argument("--broker-url", help="mqtt://host:port or mqtts://host:port (default: embedded broker)")
    central.add_argument("--broker-protocol", choices=["5", "3.1.1"])
    central.add_argument("--embedded-broker-port", type=int, help="port of the embedded broker (default 1883)")
    central.add_argument("--port", type=int, help="HTTP port (default 8080)")
    central.set_defaults(func=_central)
    _add_central_commands(central.add_subparsers(dest="central_command",
                                                 metavar="[serve|create-user|backup|restore]"))

    gateway = commands.add_parser("gateway", help="run an estate gateway")
    gateway.add_argument("--config", required=True, help="the estate's gateway TOML config")
    gateway.set_defaults(func=_gateway)

    sim = commands.add_parser("sim", help="run a device simulator")
    sims = sim.add_subparsers(dest="simulator", required=True)
    from simulators import card_reader, meter_bus_sim, modbus_meter, wiegand_reader

    reader = sims.add_parser("card-reader", help="ASCII serial card reader on a pseudo-terminal")
    card_reader.add_arguments(reader)
    reader.set_defaults(func=_sim, sim_run=card_reader.run)
    wiegand = sims.add_parser("wiegand-reader", help="Wiegand 26/34 reader behind a Wiegand-to-serial converter")
    wiegand_reader.add_arguments(wiegand)
    wiegand.set_defaults(func=_sim, sim_run=wiegand_reader.run)
    meters = sims.add_parser("meter-bus", help="DL/T 645 or CJ/T 188 meters sharing one RS-485 line on a pty")
    meter_bus_sim.add_arguments(meters)
    meters.set_defaults(func=_sim, sim_run=meter_bus_sim.run)
    modbus = sims.add_parser("modbus-meter", help="Modbus meters over TCP and/or RTU on a pseudo-terminal")
    modbus_meter.add_arguments(modbus)
    modbus.set_defaults(func=_sim, sim_run=modbus_meter.run)
    from simulators import modbus_io

    io_module = sims.add_parser("modbus-io", help="Modbus TCP I/O module: lock relays on coils, door contacts on inputs")
    modbus_io.add_arguments(io_module)
    io_module.set_defaults(func=_sim, sim_run=modbus_io.run)

    demo = commands.add_parser("demo", help="run the demo estate: central, broker, gateway, simulators")
    demo.add_argument("--port", type=int, default=8080, help="central HTTP port (default 8080)")
    demo.add_argument("--broker-port", type=int, default=1883, help="embedded broker port (default 1883)")
    demo.add_argument("--var", default="var/demo", help="folder for the demo's databases (default var/demo)")
    demo.add_argument("--rate", type=float, default=1.0, help="card reads per second (default 1)")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in NOISY_LIBRARIES:
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLogger().level))
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
