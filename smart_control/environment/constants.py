"""Physical constants shared by the building modules (SI units).

Values are the usual engineering constants for dry air near sea level and
liquid water at hot-water-loop temperatures (ASHRAE Handbook--Fundamentals
2021, ch. 1 "Psychrometrics" and ch. 33 "Physical Properties of Materials").
"""

# Density of air at about 20 C and 101.325 kPa.
AIR_DENSITY_KG_M3 = 1.2
# Specific heat of dry air at constant pressure.
AIR_SPECIFIC_HEAT_J_KGK = 1005.0
# Volumetric heat capacity of air, used for infiltration and airflow.
AIR_VOLUMETRIC_HEAT_CAPACITY_J_M3K = AIR_DENSITY_KG_M3 * AIR_SPECIFIC_HEAT_J_KGK

# Liquid water at 50-80 C.
WATER_DENSITY_KG_M3 = 980.0
WATER_SPECIFIC_HEAT_J_KGK = 4186.0

# Offset between the Kelvin and Celsius scales.
KELVIN_OFFSET = 273.15

SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86400
JOULES_PER_KWH = 3.6e6

# Solar constant (W/m2), as used by Spencer (1971) and Duffie & Beckman,
# "Solar Engineering of Thermal Processes", 4th ed., section 1.2.
SOLAR_CONSTANT_W_M2 = 1367.0
