"""VAV air handler with hot-water reheat, boiler plant and zone thermostats.

Per step, given the two supervisory setpoints (supply water temperature of
the boiler loop, supply air heating setpoint of the air handler):

1. Air handler (AHU). Return air (estimated by the mean zone temperature) is
   mixed with outdoor air: a fixed minimum outdoor-air fraction while the
   building is in occupied mode and, with the economizer, up to 100 % outdoor
   air when that brings the mix toward the cooling setpoint (differential
   dry-bulb economizer, ASHRAE 90.1-2016 section 6.5.1). Unoccupied, the
   system runs only when a zone leaves its setback band: for night heating
   with outdoor air dampers shut and the cooling coil off, for night cooling
   with the economizer and cooling coil. The heating coil
   raises the mix to the supply-air heating setpoint; the cooling coil lowers
   it to the cooling setpoint (never below the heating setpoint). The result
   is the supply air temperature T_sa.
2. Zones (VAV boxes with hot-water reheat, "dual maximum" logic as in ASHRAE
   Guideline 36). Each thermostat holds its zone inside the comfort band in
   force (occupied or setback), aiming `thermostat_margin_k` inside it. It
   asks for the constant heat Q (W) that, held over the step, puts the zone
   air at the nearest band edge given the exact free response of the thermal
   network (coupling to other zones is left to the network: each box sees
   only its own zone). Q is limited by what the box can deliver:
   cooling with supply air up to the design airflow, Q >= c_max (T_sa - T_z);
   heating with reheated air up to the heating airflow,
   Q <= c_heat (T_dmax - T_z), where T_dmax = T_sa + eps (T_w - T_sa) is the
   warmest discharge the reheat coil can make from water at T_w. In occupied
   mode a minimum airflow always runs (ventilation). Here c = m c_p (W/K) is
   a capacity rate and T_z the zone temperature at the start of the step.
3. Plant. Hot-water load = reheat + AHU heating coil. The loop runs when
   there is load, and stands by whenever it is colder outside than the
   boiler lockout: distribution losses UA (T_w - T_room) at all times it is
   on, a condensing boiler whose efficiency falls as its return water warms,
   and a pump moving the water flow the load needs at the coil temperature
   drop. Cooling coil load
   is met by a chiller of fixed COP. The supply fan follows the ASHRAE 90.1
   Appendix G variable-speed part-load curve.

Energy bookkeeping is exact within the model: the heat delivered to the zones
equals AHU coil heat + reheat + outdoor-air sensible load, and boiler output
equals hot-water load + distribution loss (the tests check both).
Not modelled: latent loads and humidity, fan heat, duct losses, plant
capacity limits, pump and fan heat gains.
"""

from __future__ import annotations

import dataclasses
import typing

import gin
import numpy as np

from smart_control.environment import constants

# Smallest coil water temperature drop used for the pump flow, K.
_MIN_WATER_DELTA_K = 1.0


@dataclasses.dataclass(frozen=True)
class ComfortBands:
    """Thermostat bands, K.

    Attributes:
      occupied_low_k: Heating setpoint in occupied mode.
      occupied_high_k: Cooling setpoint in occupied mode.
      setback_low_k: Heating setpoint outside occupied mode.
      setback_high_k: Cooling setpoint outside occupied mode.
    """

    occupied_low_k: float
    occupied_high_k: float
    setback_low_k: float
    setback_high_k: float


@gin.configurable
def comfort_bands(
    occupied_low_k: float = 294.26,
    occupied_high_k: float = 297.04,
    setback_low_k: float = 288.71,
    setback_high_k: float = 299.82,
) -> ComfortBands:
    """Builds the thermostat bands.

    Defaults are the DOE reference medium office thermostat schedule (Deru et
    al. 2011): 21.1-23.9 C (70-75 F) occupied, 15.6-26.7 C (60-80 F) setback;
    the occupied band lies inside the ASHRAE 55-2020 winter/summer comfort
    zones for office clothing.

    Raises:
      ValueError: if a band is empty or the occupied band is not inside the
        setback band.
    """
    if not occupied_low_k < occupied_high_k:
        raise ValueError(
            f"occupied_low_k={occupied_low_k} must be < occupied_high_k="
            f"{occupied_high_k}"
        )
    if not setback_low_k <= occupied_low_k or not occupied_high_k <= setback_high_k:
        raise ValueError("the setback band must contain the occupied band")
    return ComfortBands(
        float(occupied_low_k),
        float(occupied_high_k),
        float(setback_low_k),
        float(setback_high_k),
    )


@dataclasses.dataclass(frozen=True)
class HvacParameters:
    """HVAC design and plant parameters; see `hvac_parameters` for fields."""

    enabled: bool
    design_airflow_perimeter_l_s_m2: float
    design_airflow_core_l_s_m2: float
    occupied_min_airflow_fraction: float
    heating_max_airflow_fraction: float
    reheat_coil_effectiveness: float
    supply_air_cooling_setpoint_k: float
    min_outdoor_air_fraction: float
    economizer: bool
    fan_power_w_per_m3_s: float
    fan_curve: tuple[float, float, float, float]
    cooling_cop: float
    boiler_max_efficiency: float
    boiler_min_efficiency: float
    boiler_condensing_return_k: float
    boiler_non_condensing_return_k: float
    water_coil_effectiveness: float
    pump_head_pa: float
    pump_efficiency: float
    loop_loss_w_k: float
    plant_room_temperature_k: float
    boiler_lockout_k: float
    thermostat_margin_k: float


@gin.configurable
def hvac_parameters(
    enabled: bool = True,
    design_airflow_perimeter_l_s_m2: float = 5.0,
    design_airflow_core_l_s_m2: float = 3.0,
    occupied_min_airflow_fraction: float = 0.3,
    heating_max_airflow_fraction: float = 0.5,
    reheat_coil_effectiveness: float = 0.7,
    supply_air_cooling_setpoint_k: float = 285.93,
    min_outdoor_air_fraction: float = 0.25,
    economizer: bool = True,
    fan_power_w_per_m3_s: float = 2000.0,
    fan_curve: tuple[float, float, float, float] = (0.0013, 0.1470, 0.9506, -0.0998),
    cooling_cop: float = 3.0,
    boiler_max_efficiency: float = 0.95,
    boiler_min_efficiency: float = 0.86,
    boiler_condensing_return_k: float = 303.15,
    boiler_non_condensing_return_k: float = 328.15,
    water_coil_effectiveness: float = 0.5,
    pump_head_pa: float = 200_000.0,
    pump_efficiency: float = 0.6,
    loop_loss_w_k: float = 100.0,
    plant_room_temperature_k: float = 293.15,
    boiler_lockout_k: float = 288.71,
    thermostat_margin_k: float = 0.1,
) -> HvacParameters:
    """Builds the HVAC parameters.

    Defaults and their sources:
      * design airflow 5.0 L/s m2 perimeter, 3.0 core: the 0.6-1.0 cfm/ft2
        rule of thumb for office VAV sizing (ASHRAE Handbook--HVAC Systems and
        Equipment 2020, ch. 4 and 20), matching peak sensible loads of about
        75 W/m2 perimeter and 35 W/m2 core at an 11 K supply difference.
      * 30 % minimum airflow in occupied mode and a 50 % heating maximum: the
        VAV box settings of ASHRAE Guideline 36-2018 and ASHRAE 90.1-2016
        section 6.5.2.1 (minimum no more than 30 % for reheat).
      * 0.7 reheat coil effectiveness: typical one- or two-row hot-water coil
        (ASHRAE Handbook--HVAC Systems and Equipment 2020, ch. 27).
      * cooling setpoint 285.93 K (55 F), the customary VAV supply design.
      * 25 % minimum outdoor air: ASHRAE 62.1-2019 office rates (2.5 L/s per
        person + 0.3 L/s m2) at typical part-load airflow.
      * 2000 W per m3/s supply fan at design flow (EN 16798-3 SFP class 4;
        ASHRAE 90.1-2016 fan power limitation allows up to about 2400), and
        the ASHRAE 90.1-2016 Appendix G (G3.1.3.15) VSD part-load curve.
      * cooling COP 3.0: air-cooled chiller, ASHRAE 90.1-2016 Table 6.8.1-3
        (about 10 EER).
      * condensing boiler efficiency 95 % below 30 C return and 86 % above
        55 C (ASHRAE Handbook--HVAC Systems and Equipment 2020, ch. 32,
        condensing boiler efficiency vs return water temperature).
      * coil water-side effectiveness 0.5 (return water falls half way from
        supply toward room air), 200 kPa pump head and 60 % wire-to-water
        efficiency (ASHRAE Handbook--HVAC Systems and Equipment 2020, ch. 44).
      * loop losses 100 W/K: about 400 m of insulated DN20-DN50 supply and
        return piping (mains and 15 reheat branches) at about 0.25 W/m K
        (VDI 2055 / EN 12828 insulation classes).
      * boiler lockout 288.71 K (60 F): the hot-water plant is enabled, and
        loses heat at its supply temperature, whenever it is colder outside
        (a common warm-weather shutdown setting, ASHRAE Guideline 36-2018
        section 5.21 plant enable).
      * 0.1 K thermostat margin so zones are held just inside the band.

    Args:
      enabled: False turns the whole system off (free-floating building).
      design_airflow_perimeter_l_s_m2: Perimeter design airflow, L/s m2.
      design_airflow_core_l_s_m2: Core design airflow, L/s m2.
      occupied_min_airflow_fraction: Minimum box airflow in occupied mode.
      heating_max_airflow_fraction: Maximum box airflow while reheating.
      reheat_coil_effectiveness: eps in T_dmax = T_sa + eps (T_w - T_sa).
      supply_air_cooling_setpoint_k: AHU cooling coil leaving temperature, K.
      min_outdoor_air_fraction: Outdoor air fraction in occupied mode.
      economizer: Whether the AHU uses outdoor air for free cooling.
      fan_power_w_per_m3_s: Fan electric power per m3/s at design flow.
      fan_curve: Part-load fraction a + b r + c r^2 + d r^3 of flow ratio r.
      cooling_cop: Cooling coil load per unit of chiller electricity.
      boiler_max_efficiency: Efficiency at cold return water.
      boiler_min_efficiency: Efficiency at warm (non-condensing) return.
      boiler_condensing_return_k: Return temperature of full condensing, K.
      boiler_non_condensing_return_k: Return temperature where condensing
        stops, K.
      water_coil_effectiveness: Water temperature drop over
        (supply water - room air).
      pump_head_pa: Pump pressure rise, Pa.
      pump_efficiency: Wire-to-water pump efficiency.
      loop_loss_w_k: Hot-water distribution loss coefficient, W/K.
      plant_room_temperature_k: Surroundings of the distribution piping, K.
      boiler_lockout_k: Outdoor temperature below which the hot-water loop
        stays enabled (standby losses) even without load, K.
      thermostat_margin_k: Thermostats aim this far inside the band, K.

    Raises:
      ValueError: naming the parameter, on negative flows or powers,
        fractions outside their range, or a non-positive COP or efficiency.
    """
    for name, value in (
        ("design_airflow_perimeter_l_s_m2", design_airflow_perimeter_l_s_m2),
        ("design_airflow_core_l_s_m2", design_airflow_core_l_s_m2),
        ("fan_power_w_per_m3_s", fan_power_w_per_m3_s),
        ("pump_head_pa", pump_head_pa),
        ("loop_loss_w_k", loop_loss_w_k),
        ("thermostat_margin_k", thermostat_margin_k),
    ):
        if value < 0:
            raise ValueError(f"{name}={value} must be >= 0")
    for name, value in (
        ("cooling_cop", cooling_cop),
        ("pump_efficiency", pump_efficiency),
        ("boiler_max_efficiency", boiler_max_efficiency),
        ("boiler_min_efficiency", boiler_min_efficiency),
    ):
        if value <= 0:
            raise ValueError(f"{name}={value} must be > 0")
    for name, value in (
        ("occupied_min_airflow_fraction", occupied_min_airflow_fraction),
        ("heating_max_airflow_fraction", heating_max_airflow_fraction),
        ("reheat_coil_effectiveness", reheat_coil_effectiveness),
        ("min_outdoor_air_fraction", min_outdoor_air_fraction),
        ("water_coil_effectiveness", water_coil_effectiveness),
    ):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name}={value} not in [0, 1]")
    if heating_max_airflow_fraction < occupied_min_airflow_fraction:
        raise ValueError(
            f"heating_max_airflow_fraction={heating_max_airflow_fraction} must be "
            f">= occupied_min_airflow_fraction={occupied_min_airflow_fraction}"
        )
    if boiler_non_condensing_return_k <= boiler_condensing_return_k:
        raise ValueError(
            "boiler_non_condensing_return_k must be > boiler_condensing_return_k"
        )
    if len(fan_curve) != 4:
        raise ValueError(f"fan_curve={fan_curve} needs 4 coefficients")
    return HvacParameters(
        enabled=bool(enabled),
        design_airflow_perimeter_l_s_m2=float(design_airflow_perimeter_l_s_m2),
        design_airflow_core_l_s_m2=float(design_airflow_core_l_s_m2),
        occupied_min_airflow_fraction=float(occupied_min_airflow_fraction),
        heating_max_airflow_fraction=float(heating_max_airflow_fraction),
        reheat_coil_effectiveness=float(reheat_coil_effectiveness),
        supply_air_cooling_setpoint_k=float(supply_air_cooling_setpoint_k),
        min_outdoor_air_fraction=float(min_outdoor_air_fraction),
        economizer=bool(economizer),
        fan_power_w_per_m3_s=float(fan_power_w_per_m3_s),
        fan_curve=tuple(float(v) for v in fan_curve),
        cooling_cop=float(cooling_cop),
        boiler_max_efficiency=float(boiler_max_efficiency),
        boiler_min_efficiency=float(boiler_min_efficiency),
        boiler_condensing_return_k=float(boiler_condensing_return_k),
        boiler_non_condensing_return_k=float(boiler_non_condensing_return_k),
        water_coil_effectiveness=float(water_coil_effectiveness),
        pump_head_pa=float(pump_head_pa),
        pump_efficiency=float(pump_efficiency),
        loop_loss_w_k=float(loop_loss_w_k),
        plant_room_temperature_k=float(plant_room_temperature_k),
        boiler_lockout_k=float(boiler_lockout_k),
        thermostat_margin_k=float(thermostat_margin_k),
    )


class HvacResult(typing.NamedTuple):
    """Powers (W) and states of one step.

    Attributes:
      zone_heat_w: (n,) heat delivered to each zone (negative: cooling), or
        None when the system did nothing.
      supply_air_k: AHU supply (leaving coil) temperature.
      outdoor_air_fraction: Outdoor air share of the supply air.
      airflow_m3_s: Total supply airflow.
      fan_w: Supply fan electric power.
      cooling_electric_w: Chiller electric power.
      pump_w: Hot-water pump electric power.
      gas_w: Boiler fuel power (higher heating value).
      reheat_w: Heat added by the zone reheat coils.
      coil_heating_w: Heat added by the AHU heating coil.
      coil_cooling_w: Heat removed by the AHU cooling coil.
      outdoor_air_load_w: Sensible heat carried in by outdoor air relative
        to return air (negative when outdoor air is colder).
      boiler_output_w: Heat the boiler delivered to the loop.
      loop_loss_w: Distribution losses of the hot-water loop.
      boiler_efficiency: Boiler efficiency this step (0 when off).
    """

    zone_heat_w: np.ndarray | None
    supply_air_k: float
    outdoor_air_fraction: float
    airflow_m3_s: float = 0.0
    fan_w: float = 0.0
    cooling_electric_w: float = 0.0
    pump_w: float = 0.0
    gas_w: float = 0.0
    reheat_w: float = 0.0
    coil_heating_w: float = 0.0
    coil_cooling_w: float = 0.0
    outdoor_air_load_w: float = 0.0
    boiler_output_w: float = 0.0
    loop_loss_w: float = 0.0
    boiler_efficiency: float = 0.0


class HvacSystem:
    """The HVAC of one building, sized from its zones.

    The per-zone thermostat logic runs as a plain Python loop: for the 5-30
    zones of a mid-size building that is about twice as fast as numpy, whose
    per-call overhead (about 1 us) dominates on arrays this small.

    Args:
      params: Design and plant parameters.
      floor_area_m2: (n,) zone floor areas.
      is_perimeter: (n,) whether each zone is a perimeter zone.
      air_response_k_per_w: (n,) end-of-step change of each zone's air
        temperature per W held on that zone's air node over the step (the
        diagonal of the discretised network's air block).
    """

    def __init__(
        self,
        params: HvacParameters,
        floor_area_m2: np.ndarray,
        is_perimeter: np.ndarray,
        air_response_k_per_w: np.ndarray,
    ):
        self.params = params
        rho_cp = constants.AIR_VOLUMETRIC_HEAT_CAPACITY_J_M3K
        flow_l_s_m2 = np.where(
            is_perimeter,
            params.design_airflow_perimeter_l_s_m2,
            params.design_airflow_core_l_s_m2,
        )
        design_m3_s = flow_l_s_m2 * 1e-3 * np.asarray(floor_area_m2, dtype=np.float64)
        self.design_airflow_m3_s = float(design_m3_s.sum())
        response = np.asarray(air_response_k_per_w, dtype=np.float64)
        if response.shape != design_m3_s.shape or np.any(response <= 0):
            raise ValueError("air_response_k_per_w must be > 0, one per zone")
        # Capacity rates c = rho c_p V (W/K) of the box airflow limits.
        c_max = rho_cp * design_m3_s
        c_heat = params.heating_max_airflow_fraction * c_max
        c_min = params.occupied_min_airflow_fraction * c_max
        # Per-zone constants (c_min, c_max, c_heat, response, 1/response) as
        # Python tuples for the zone loop, one list per operating mode.
        self._boxes_occupied = list(
            zip(*(a.tolist() for a in (c_min, c_max, c_heat, response, 1.0 / response)))
        )
        self._boxes_unoccupied = [(0.0,) + box[1:] for box in self._boxes_occupied]
        self._rho_cp = rho_cp
        self._design_c = rho_cp * self.design_airflow_m3_s
        self._design_fan_w = params.fan_power_w_per_m3_s * self.design_airflow_m3_s
        self._water_c = (
            constants.WATER_DENSITY_KG_M3 * constants.WATER_SPECIFIC_HEAT_J_KGK
        )

    def _plant(
        self,
        water_load_w: float,
        supply_water_k: float,
        zone_mean_k: float,
        outdoor_k: float,
    ) -> tuple[float, float, float, float, float]:
        """(pump_w, gas_w, boiler_w, loss_w, efficiency) of the hot-water plant.

        The loop runs when there is a load, and stands by (hot, losing heat
        through the piping) whenever the outdoor air is below the boiler
        lockout. Pumping at standby flow is neglected.
        """
        p = self.params
        if water_load_w <= 0.0 and outdoor_k >= p.boiler_lockout_k:
            return 0.0, 0.0, 0.0, 0.0, 0.0
        loss_w = p.loop_loss_w_k * max(supply_water_k - p.plant_room_temperature_k, 0.0)
        if water_load_w > 0.0:
            water_drop_k = max(
                p.water_coil_effectiveness * (supply_water_k - zone_mean_k),
                _MIN_WATER_DELTA_K,
            )
            water_m3_s = water_load_w / (self._water_c * water_drop_k)
            pump_w = water_m3_s * p.pump_head_pa / p.pump_efficiency
        else:
            # Standby: coil valves shut, water returns (almost) as hot as sent.
            water_drop_k = 0.0
            pump_w = 0.0
        return_water_k = supply_water_k - water_drop_k
        span = p.boiler_non_condensing_return_k - p.boiler_condensing_return_k
        x = min(max((return_water_k - p.boiler_condensing_return_k) / span, 0.0), 1.0)
        efficiency = p.boiler_max_efficiency + x * (
            p.boiler_min_efficiency - p.boiler_max_efficiency
        )
        boiler_w = water_load_w + loss_w
        return pump_w, boiler_w / efficiency, boiler_w, loss_w, efficiency

    def _idle(
        self,
        supply_air_k: float,
        supply_water_k: float,
        zone_mean_k: float,
        outdoor_k: float,
    ) -> HvacResult:
        """A step with fans and coils off; only the loop may stand by."""
        pump_w, gas_w, boiler_w, loss_w, efficiency = self._plant(
            0.0, supply_water_k, zone_mean_k, outdoor_k
        )
        return HvacResult(
            None,
            supply_air_k,
            0.0,
            pump_w=pump_w,
            gas_w=gas_w,
            boiler_output_w=boiler_w,
            loop_loss_w=loss_w,
            boiler_efficiency=efficiency,
        )

    def step(
        self,
        zone_k: list[float],
        free_k: list[float],
        zone_mean_k: float,
        occupied: bool,
        low_k: float,
        high_k: float,
        outdoor_k: float,
        supply_water_k: float,
        supply_air_heating_k: float,
    ) -> HvacResult:
        """Runs thermostats, air handler and plant for one step.

        Args:
          zone_k: The n zone air temperatures at the start of the step.
          free_k: The n zone air temperatures at the end of the step if the
            HVAC delivered no heat.
          zone_mean_k: Mean of `zone_k` (the AHU's return air estimate).
          occupied: Whether the building is in occupied mode.
          low_k: Lower edge of the band in force.
          high_k: Upper edge of the band in force.
          outdoor_k: Outdoor air temperature over the step.
          supply_water_k: Boiler loop supply temperature setpoint.
          supply_air_heating_k: AHU supply air heating setpoint.

        Returns:
          The step's `HvacResult`.
        """
        p = self.params
        if not p.enabled:
            return HvacResult(None, supply_air_heating_k, 0.0)
        margin = p.thermostat_margin_k
        lo, hi = low_k + margin, high_k - margin
        if hi < lo:
            lo = hi = 0.5 * (low_k + high_k)

        cooling_k = max(p.supply_air_cooling_setpoint_k, supply_air_heating_k)
        free = free_k
        night_heating = False
        if occupied:
            boxes = self._boxes_occupied
            f_min = p.min_outdoor_air_fraction
        else:
            boxes = self._boxes_unoccupied
            f_min = 0.0
            coldest = min(free)
            if coldest >= lo and max(free) <= hi:
                # No ventilation is due and every zone stays in its band on
                # its own: fans and coils stay off, the loop may stand by.
                return self._idle(
                    supply_air_heating_k, supply_water_k, zone_mean_k, outdoor_k
                )
            night_heating = coldest < lo
        if night_heating:
            # Unoccupied heating (setback mode, ASHRAE Guideline 36 zone group
            # modes): heating only, outdoor air dampers shut, cooling coil off.
            f = 0.0
            supply_k = max(zone_mean_k, supply_air_heating_k)
            hi = float("inf")
        else:
            # Mixed air: minimum outdoor air, more (economizer) if it cools
            # toward the cooling setpoint; then heating or cooling coil.
            f = f_min
            if p.economizer and outdoor_k < zone_mean_k:
                f = (zone_mean_k - cooling_k) / (zone_mean_k - outdoor_k)
                f = min(max(f, f_min), 1.0)
            mixed_k = zone_mean_k + f * (outdoor_k - zone_mean_k)
            if mixed_k < supply_air_heating_k:
                supply_k = supply_air_heating_k
            else:
                supply_k = min(mixed_k, cooling_k)
        discharge_max_k = supply_k + p.reheat_coil_effectiveness * (
            supply_water_k - supply_k
        )

        # Thermostats and VAV boxes, zone by zone (see module docstring).
        heat = []
        c_total = c_zone = q_total = 0.0
        for t, t_free, (c_min, c_max, c_heat, g, inv_g) in zip(zone_k, free, boxes):
            d_cool = supply_k - t
            q_vent = c_min * d_cool
            vented = t_free + g * q_vent
            if vented < lo:
                # Heating: reheat at minimum flow until the discharge reaches
                # its maximum, then more air (up to c_heat) at that maximum.
                q = q_vent + (lo - vented) * inv_g
                d_heat = discharge_max_k - t
                cap = c_heat * d_heat if d_heat > 0.0 else c_min * d_heat
                if q > cap:
                    q = cap
                c = q / d_heat if d_heat > 0.0 and q > c_min * d_heat else c_min
            elif vented > hi:
                # Cooling: more supply air, up to the design flow.
                q = q_vent + (hi - vented) * inv_g
                cap = c_max * d_cool
                if cap > q_vent:
                    cap = q_vent
                if q < cap:
                    q = cap
                c = q / d_cool if q < q_vent else c_min
            else:
                q = q_vent
                c = c_min
            heat.append(q)
            c_total += c
            c_zone += c * t
            q_total += q

        if c_total <= 0.0:
            return self._idle(supply_k, supply_water_k, zone_mean_k, outdoor_k)
        q_array = np.array(heat)
        return_k = c_zone / c_total
        mixed_k = return_k + f * (outdoor_k - return_k)
        if night_heating and supply_k < mixed_k:
            # The return air came back warmer than estimated: with the cooling
            # coil off it passes through, and the reheat coils did less.
            supply_k = mixed_k
        coil_w = c_total * (supply_k - mixed_k)
        # reheat = sum c (T_discharge - T_sa) = sum Q - sum c (T_sa - T_z).
        reheat_w = q_total - supply_k * c_total + c_zone
        if reheat_w < 0.0:  # rounding of a zero
            reheat_w = 0.0
        coil_heating_w = coil_w if coil_w > 0.0 else 0.0
        coil_cooling_w = -coil_w if coil_w < 0.0 else 0.0
        ratio = c_total / self._design_c
        a, b, cc, d = p.fan_curve
        fan_w = self._design_fan_w * (a + ratio * (b + ratio * (cc + ratio * d)))

        pump_w, gas_w, boiler_w, loss_w, efficiency = self._plant(
            reheat_w + coil_heating_w, supply_water_k, zone_mean_k, outdoor_k
        )
        return HvacResult(
            q_array,
            supply_k,
            f,
            c_total / self._rho_cp,
            fan_w,
            coil_cooling_w / p.cooling_cop,
            pump_w,
            gas_w,
            reheat_w,
            coil_heating_w,
            coil_cooling_w,
            f * c_total * (outdoor_k - return_k),
            boiler_w,
            loss_w,
            efficiency,
        )
