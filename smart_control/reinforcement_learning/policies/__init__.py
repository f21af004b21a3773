"""Built-in policies: the baseline schedule policy and a uniform random policy.

`populate_policy.populate_policy_factory` is the gin selector the populate
binary calls; configs/populate/*.gin bind it to one of them.
"""
