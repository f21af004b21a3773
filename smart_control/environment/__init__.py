"""Simulated office building for learning HVAC supervisory controllers.

Import `smart_control.environment.building_env` for the TF-Agents environment;
the other modules are its parts (thermal network, HVAC, weather, occupancy,
calendar, tariff and reward, action and observation layouts).
"""
