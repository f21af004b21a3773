"""Lumped RC thermal network and its exact discretisation.

The building is a linear network of thermal nodes (per zone an air node and a
thermal-mass node, 2R2C per zone) joined by conductances H (W/K) and tied to
boundary temperatures (outdoor air, ground):

    C dx/dt = -(L + diag(h_out + h_gnd)) x + h_out T_out + h_gnd T_gnd + q

with C the node capacitances (J/K), L the Laplacian of the internal
conductances, h_out and h_gnd the conductances of each node to outdoors and to
the ground, and q the heat injected at each node (W).

For inputs held constant over a step of dt seconds (zero-order hold) the
solution is exact:

    x[k+1] = Phi x[k] + Gamma u[k],   u = h_out T_out + h_gnd T_gnd + q,

with Phi = exp(A dt), Gamma = A^-1 (Phi - I) C^-1, A = -C^-1 M. Because M is
symmetric and C diagonal positive, S = C^-1/2 M C^-1/2 is symmetric, so one
eigendecomposition S = V diag(lam) V^T gives both matrices in closed form with
no matrix exponential library:

    Phi   = C^-1/2 V diag(exp(-lam dt))          V^T C^1/2
    Gamma = C^-1/2 V diag((1 - exp(-lam dt))/lam) V^T C^-1/2

The same decomposition gives the exact time integral of the state over a step
(used to report envelope heat flows) and the steady state M^-1 u.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class ThermalNetwork:
    """A linear RC network.

    Attributes:
      capacitance_j_k: (N,) node heat capacities, J/K.
      conductance_w_k: (N, N) symmetric internal conductances, W/K, zero
        diagonal (entry [i, j] joins nodes i and j).
      outdoor_w_k: (N,) conductance of each node to outdoor air, W/K.
      ground_w_k: (N,) conductance of each node to the ground, W/K.
      node_names: Names of the nodes, for error messages and plots.
    """

    capacitance_j_k: np.ndarray
    conductance_w_k: np.ndarray
    outdoor_w_k: np.ndarray
    ground_w_k: np.ndarray
    node_names: tuple[str, ...]

    def __post_init__(self):
        c, h = self.capacitance_j_k, self.conductance_w_k
        n = len(c)
        if (
            h.shape != (n, n)
            or self.outdoor_w_k.shape != (n,)
            or self.ground_w_k.shape != (n,)
        ):
            raise ValueError("network arrays have inconsistent shapes")
        if len(self.node_names) != n:
            raise ValueError("node_names must name every node")
        if not np.all(np.isfinite(c)) or np.any(c <= 0):
            bad = self.node_names[int(np.argmin(np.where(np.isfinite(c), c, -1)))]
            raise ValueError(f"capacitance of node {bad!r} must be > 0")
        for name, values in (
            ("conductance_w_k", h),
            ("outdoor_w_k", self.outdoor_w_k),
            ("ground_w_k", self.ground_w_k),
        ):
            if not np.all(np.isfinite(values)) or np.any(values < 0):
                raise ValueError(f"{name} must be finite and >= 0")
        if not np.allclose(h, h.T) or np.any(np.diag(h) != 0):
            raise ValueError("conductance_w_k must be symmetric with zero diagonal")

    @property
    def size(self) -> int:
        return len(self.capacitance_j_k)

    def system_matrix(self) -> np.ndarray:
        """M = L + diag(h_out + h_gnd), so that C dx/dt = -M x + u."""
        h = self.conductance_w_k
        return np.diag(h.sum(axis=1) + self.outdoor_w_k + self.ground_w_k) - h

    def boundary_input(
        self, outdoor_k: np.ndarray, ground_k: float, heat_w: np.ndarray
    ) -> np.ndarray:
        """u = h_out T_out + h_gnd T_gnd + q, vectorised over leading axes.

        Args:
          outdoor_k: (...,) outdoor temperature.
          ground_k: Ground temperature.
          heat_w: (..., N) heat injected at each node.
        """
        outdoor = np.asarray(outdoor_k, dtype=np.float64)[..., None]
        return outdoor * self.outdoor_w_k + ground_k * self.ground_w_k + heat_w

    def steady_state(
        self, outdoor_k: float, ground_k: float, heat_w: np.ndarray
    ) -> np.ndarray:
        """Node temperatures once constant inputs have settled, K."""
        u = self.boundary_input(outdoor_k, ground_k, heat_w)
        return np.linalg.solve(self.system_matrix(), u)


@dataclasses.dataclass(frozen=True)
class DiscreteThermalModel:
    """Exact zero-order-hold discretisation of a `ThermalNetwork`.

    Attributes:
      network: The continuous network.
      dt_s: Step length, seconds.
      phi: (N, N) state transition, K/K.
      gamma: (N, N) response of the end-of-step state to a constant input
        u (W) held over the step, K/W.
      state_integral: (N, N) maps x[k] to the time integral of the free
        response over the step, K s/K.
      input_integral: (N, N) maps u to the integral of the forced response
        over the step, K s/W.
    """

    network: ThermalNetwork
    dt_s: float
    phi: np.ndarray
    gamma: np.ndarray
    state_integral: np.ndarray
    input_integral: np.ndarray

    @classmethod
    def build(cls, network: ThermalNetwork, dt_s: float) -> DiscreteThermalModel:
        """Discretises `network` for steps of `dt_s` seconds.

        Raises:
          ValueError: if dt_s <= 0 or some node has no path to a boundary (the
            network would then have no steady state).
        """
        if dt_s <= 0:
            raise ValueError(f"dt_s={dt_s} must be > 0")
        c = network.capacitance_j_k
        s_half, s_inv_half = np.sqrt(c), 1.0 / np.sqrt(c)
        m = network.system_matrix()
        sym = s_inv_half[:, None] * m * s_inv_half[None, :]
        lam, v = np.linalg.eigh(0.5 * (sym + sym.T))
        if lam.min() <= 1e-12 * max(lam.max(), 1e-300):
            raise ValueError(
                "thermal network has a node group with no conductance to "
                "outdoors or ground; it has no steady state"
            )
        decay = np.exp(-lam * dt_s)
        # (1 - exp(-lam dt)) / lam, written with expm1 to stay accurate for
        # slow modes where lam dt is tiny.
        integral = -np.expm1(-lam * dt_s) / lam
        double_integral = (dt_s - integral) / lam

        def reassemble(weights: np.ndarray, left: np.ndarray, right: np.ndarray):
            return left[:, None] * ((v * weights) @ v.T) * right[None, :]

        return cls(
            network=network,
            dt_s=float(dt_s),
            phi=reassemble(decay, s_inv_half, s_half),
            gamma=reassemble(integral, s_inv_half, s_inv_half),
            state_integral=reassemble(integral, s_inv_half, s_half),
            input_integral=reassemble(double_integral, s_inv_half, s_inv_half),
        )

    def step(self, x: np.ndarray, u: np.ndarray) -> np.ndarray:
        """State after one step from `x` under constant input `u` (W)."""
        return self.phi @ x + self.gamma @ u

    def integrate(self, x: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Time integral of the state over the step, K s."""
        return self.state_integral @ x + self.input_integral @ u
