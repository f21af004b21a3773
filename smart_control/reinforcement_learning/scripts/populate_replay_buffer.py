"""The guide also calls the populate script `populate_replay_buffer.py`: same binary."""

from smart_control.reinforcement_learning.scripts.populate_starter_buffer import run

if __name__ == "__main__":
    run()
