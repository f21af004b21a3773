"""Built-in policies: the baseline schedule, uniform random, and their mix.

`populate_policy.populate_policy_factory` is the gin selector the populate
binary calls; configs/populate/*.gin bind it to one of them.
"""
