"""What a rule version's parameters say, one model per fee kind, and the pure pricing objects they become.

Decimals travel as strings ("2.50"); a JSON number is refused because it may not be exact. Stored parameters
are the validated model dumped in JSON mode, so what is stored is what was checked.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from central.billing.pricing import (CapWindow, HouseholdAdjustment, ParkingTariff, PricingError, RuleRef, Tier,
                                     TierTable)
from central.registry.errors import Invalid


def _no_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError(f"send amounts as strings, e.g. \"{value}\": a JSON number may not be exact")
    return value


Amount = Annotated[Decimal, BeforeValidator(_no_float), Field(ge=0, max_digits=14, decimal_places=2)]
Rate = Annotated[Decimal, BeforeValidator(_no_float), Field(ge=0, max_digits=14, decimal_places=6)]
Level = Annotated[Decimal, BeforeValidator(_no_float), Field(ge=0, max_digits=14, decimal_places=4)]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AreaParams(_Params):
    """Property fee: rate per m² per month of the unit's built (or usable) area."""

    rate: Rate
    area: Literal["built", "usable"] = "built"


class TierRow(_Params):
    start: Level
    price: Rate


class Household(_Params):
    base_members: int = Field(ge=1, le=20)
    per_extra_member: list[Level]
    """How far each tier boundary moves up per member beyond the base, one per boundary."""


class TieredParams(_Params):
    """Usage on cumulative annual tiers (阶梯价); one tier from 0 is a flat price."""

    unit: str = Field(min_length=1, max_length=16)
    tiers: list[TierRow] = Field(min_length=1, max_length=10)
    household: Household | None = None

    @model_validator(mode="after")
    def _table(self) -> TieredParams:
        table = tier_table(self, RuleRef("check", "check"))
        if self.household is not None:
            HouseholdAdjustment(self.household.base_members + 1, self.household.base_members,
                                tuple(self.household.per_extra_member)).apply(table)
        return self


class ParkingMonthlyParams(_Params):
    """A monthly fee per parking space the unit owns or rents."""

    monthly_fee: Amount
    space_kinds: list[Literal["owned", "rented", "temporary"]] = ["owned", "rented"]


class ParkingTemporaryParams(_Params):
    """Temporary parking: free minutes, a price per block started, a daily cap."""

    free_minutes: int = Field(ge=0, le=24 * 60)
    block_minutes: int = Field(ge=1, le=24 * 60)
    block_price: Amount
    daily_cap: Amount | None = None
    cap_window: Literal["rolling_24h", "calendar_day"] = "rolling_24h"
    free_minutes_deducted: bool = False


class FixedParams(_Params):
    """A fixed amount per unit per month (or per one-off charge)."""

    amount: Amount
    label: str = Field("month", min_length=1, max_length=16)


class SharedParams(_Params):
    """公摊: common meters' consumption at a unit price, shared by area or equally by unit."""

    meter_point_ids: list[int] = Field(min_length=1, max_length=50)
    unit_price: Rate
    basis: Literal["area", "units"] = "area"
    area: Literal["built", "usable"] = "built"


MODELS: dict[str, type[_Params]] = {
    "area": AreaParams, "usage_tiered": TieredParams, "parking_monthly": ParkingMonthlyParams,
    "parking_temporary": ParkingTemporaryParams, "fixed": FixedParams, "shared_allocation": SharedParams,
}


def validate(kind: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """The parameters checked for the fee kind and dumped as stored (decimals as strings), or Invalid."""
    try:
        model = MODELS[kind].model_validate(parameters)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        message = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        raise Invalid(f"parameters{'.' + where if where else ''}", message) from None
    except PricingError as exc:
        raise Invalid("parameters", str(exc)) from None
    if isinstance(model, TieredParams):
        _no_free_tier(model)
    return model.model_dump(mode="json")


def _no_free_tier(params: TieredParams) -> None:
    """A tier priced 0 bills nothing, and the year's usage is counted from the lines billed: its quantity would never
    move the household towards the next tier."""
    for number, tier in enumerate(params.tiers):
        if tier.price == 0:
            raise Invalid(f"parameters.tiers.{number}.price", "a tier priced 0 is not counted towards the year's "
                          "usage, so the next tier would never be reached: give every tier a price above 0")


def parse(kind: str, parameters: dict[str, Any]) -> Any:
    """Stored parameters as their model."""
    return MODELS[kind].model_validate(parameters)


def tier_table(params: TieredParams, rule: RuleRef) -> TierTable:
    """The pure tier table of tiered parameters."""
    try:
        return TierTable(rule, params.unit, tuple(Tier(row.start, row.price) for row in params.tiers))
    except PricingError as exc:
        raise ValueError(str(exc)) from None


def adjustment(params: TieredParams, members: int | None) -> HouseholdAdjustment | None:
    """The household adjustment for a household of `members`, when the rule has one and the size is known."""
    if params.household is None or members is None:
        return None
    return HouseholdAdjustment(members, params.household.base_members, tuple(params.household.per_extra_member))


def parking_tariff(params: ParkingTemporaryParams, rule: RuleRef) -> ParkingTariff:
    """The pure tariff of temporary-parking parameters."""
    return ParkingTariff(rule, params.free_minutes, params.block_minutes, params.block_price, params.daily_cap,
                         CapWindow(params.cap_window), params.free_minutes_deducted)
