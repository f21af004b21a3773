"""Tests of the RC network and its exact discretisation."""

import numpy as np
import pytest

from smart_control.environment import thermal_model


def _two_node_network(h_ao=300.0, h_am=5000.0, h_mo=150.0, c_a=2e6, c_m=3e7):
    """One zone, 2R2C: air-outdoor, air-mass, mass-outdoor conductances."""
    conductance = np.array([[0.0, h_am], [h_am, 0.0]])
    return thermal_model.ThermalNetwork(
        capacitance_j_k=np.array([c_a, c_m]),
        conductance_w_k=conductance,
        outdoor_w_k=np.array([h_ao, h_mo]),
        ground_w_k=np.zeros(2),
        node_names=("air", "mass"),
    )


def _random_network(rng, nodes=6):
    upper = np.triu(rng.uniform(0.0, 800.0, (nodes, nodes)), 1)
    upper[rng.random((nodes, nodes)) < 0.3] = 0.0
    return thermal_model.ThermalNetwork(
        capacitance_j_k=rng.uniform(1e5, 5e7, nodes),
        conductance_w_k=upper + upper.T,
        outdoor_w_k=rng.uniform(0.0, 200.0, nodes),
        ground_w_k=rng.uniform(0.0, 50.0, nodes),
        node_names=tuple(f"n{i}" for i in range(nodes)),
    )


def test_steady_state_matches_analytic_two_node_solution():
    h_ao, h_am, h_mo = 300.0, 5000.0, 150.0
    network = _two_node_network(h_ao, h_am, h_mo)
    model = thermal_model.DiscreteThermalModel.build(network, 900.0)
    outdoor, q_air, q_mass = 268.15, 4000.0, 2500.0
    u = network.boundary_input(outdoor, 0.0, np.array([q_air, q_mass]))
    x = np.array([300.0, 250.0])
    for _ in range(5000):  # about 52 days, many time constants
        x = model.step(x, u)
    # Hand-solved linear equations of the two nodes.
    det = (h_ao + h_am) * (h_mo + h_am) - h_am**2
    rise_air = (q_air * (h_mo + h_am) + h_am * q_mass) / det
    rise_mass = (q_mass * (h_ao + h_am) + h_am * q_air) / det
    assert x[0] - outdoor == pytest.approx(rise_air, rel=0.01)
    assert x[1] - outdoor == pytest.approx(rise_mass, rel=0.01)
    # The exact discretisation's fixed point is the steady state itself.
    assert x[0] - outdoor == pytest.approx(rise_air, rel=1e-9)


def test_exact_step_matches_fine_runge_kutta():
    rng = np.random.default_rng(4)
    network = _random_network(rng)
    dt = 900.0
    model = thermal_model.DiscreteThermalModel.build(network, dt)
    x0 = rng.uniform(280.0, 300.0, network.size)
    u = network.boundary_input(275.0, 283.0, rng.uniform(0.0, 3000.0, network.size))
    a = -network.system_matrix() / network.capacitance_j_k[:, None]
    b = u / network.capacitance_j_k

    def f(x):
        return a @ x + b

    x = x0.copy()
    substeps = 3000
    h = dt / substeps
    for _ in range(substeps):
        k1 = f(x)
        k2 = f(x + 0.5 * h * k1)
        k3 = f(x + 0.5 * h * k2)
        k4 = f(x + h * k3)
        x = x + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    np.testing.assert_allclose(model.step(x0, u), x, atol=1e-8)


def test_step_conserves_energy():
    rng = np.random.default_rng(7)
    network = _random_network(rng)
    dt = 900.0
    model = thermal_model.DiscreteThermalModel.build(network, dt)
    x0 = rng.uniform(280.0, 300.0, network.size)
    outdoor, ground = 270.0, 283.0
    heat = rng.uniform(0.0, 3000.0, network.size)
    u = network.boundary_input(outdoor, ground, heat)
    x1 = model.step(x0, u)
    stored = network.capacitance_j_k @ (x1 - x0)
    # Independent integral of the state: fine trapezoid over a sub-stepped
    # trajectory of a model built for dt / 200.
    fine = thermal_model.DiscreteThermalModel.build(network, dt / 200)
    trajectory = [x0]
    for _ in range(200):
        trajectory.append(fine.step(trajectory[-1], u))
    trajectory = np.array(trajectory)
    integral = (trajectory[1:] + trajectory[:-1]).sum(axis=0) * dt / 400
    np.testing.assert_allclose(model.integrate(x0, u), integral, rtol=1e-6)
    losses = network.outdoor_w_k @ (integral - outdoor * dt) + network.ground_w_k @ (
        integral - ground * dt
    )
    assert stored == pytest.approx(heat.sum() * dt - losses, rel=1e-5)


def test_free_network_relaxes_to_boundary():
    network = _two_node_network()
    model = thermal_model.DiscreteThermalModel.build(network, 3600.0)
    u = network.boundary_input(270.0, 0.0, np.zeros(2))
    x = np.array([295.0, 295.0])
    gaps = []
    for _ in range(24 * 60):
        x = model.step(x, u)
        gaps.append(np.abs(x - 270.0).max())
    assert np.all(np.diff(gaps) <= 1e-9)
    assert gaps[-1] < 1e-3


@pytest.mark.parametrize(
    "change, message",
    [
        ({"capacitance_j_k": np.array([-1.0, 1e6])}, "capacitance"),
        ({"outdoor_w_k": np.array([-5.0, 0.0])}, "outdoor_w_k"),
        ({"conductance_w_k": np.array([[0.0, 1.0], [2.0, 0.0]])}, "symmetric"),
    ],
)
def test_invalid_network_raises(change, message):
    fields = {
        "capacitance_j_k": np.array([1e6, 1e7]),
        "conductance_w_k": np.array([[0.0, 100.0], [100.0, 0.0]]),
        "outdoor_w_k": np.array([10.0, 0.0]),
        "ground_w_k": np.zeros(2),
        "node_names": ("a", "b"),
    }
    fields.update(change)
    with pytest.raises(ValueError, match=message):
        thermal_model.ThermalNetwork(**fields)


def test_network_without_boundary_has_no_steady_state():
    network = thermal_model.ThermalNetwork(
        capacitance_j_k=np.array([1e6, 1e7]),
        conductance_w_k=np.array([[0.0, 100.0], [100.0, 0.0]]),
        outdoor_w_k=np.zeros(2),
        ground_w_k=np.zeros(2),
        node_names=("a", "b"),
    )
    with pytest.raises(ValueError, match="no steady state"):
        thermal_model.DiscreteThermalModel.build(network, 900.0)
