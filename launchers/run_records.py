"""Small, atomic JSON records and the facts a run records about itself."""

from __future__ import annotations

from smart_control.reinforcement_learning.utils import clock, json_files, provenance

now = clock.utc_now
read_json = json_files.read_json
write_json = json_files.write_json_atomic
package_versions = provenance.package_versions
git_commit = provenance.git_commit
