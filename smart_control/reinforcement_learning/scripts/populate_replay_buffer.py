"""The guide also calls the populate script `populate_replay_buffer.py`: same binary."""

from smart_control.reinforcement_learning.scripts import populate_starter_buffer

__doc__ = populate_starter_buffer.__doc__

if __name__ == "__main__":
    populate_starter_buffer.run()
