"""Reads TensorBoard event files written by a run."""

import collections
import glob
import os

from tensorflow.core.util import event_pb2
from tensorflow.python.framework import tensor_util
from tensorflow.python.lib.io import tf_record


def scalars(directory):
    """{tag: [(step, value), ...]} of every scalar in `directory`'s event files."""
    found = collections.defaultdict(list)
    for path in glob.glob(os.path.join(directory, "events.out.tfevents.*")):
        for record in tf_record.tf_record_iterator(path):
            event = event_pb2.Event.FromString(record)
            for value in event.summary.value:
                number = float(tensor_util.MakeNdarray(value.tensor))
                found[value.tag].append((event.step, number))
    return dict(found)
