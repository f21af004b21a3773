"""Agent factories: SAC (`sac.py`), TD3 (`td3.py`) and DDPG (`ddpg.py`).

Each module holds one gin-configurable factory with the signature

    agent = create_<name>_agent(time_step_spec, action_spec, train_step_counter)

whose keyword defaults are the published hyper-parameters and whose networks
are sized by gin (configs/agents/*.gin). The train loop picks one with
`train_eval.agent_factory = @create_sac_agent`.
"""
