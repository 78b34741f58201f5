import ctypes
import subprocess
import sys

from stratos.common.memory import keep_buffers_in_heap


def test_applies_on_glibc() -> None:
    assert keep_buffers_in_heap() is True


def test_a_4_mib_buffer_is_reused_from_the_heap_not_mapped_each_time() -> None:
    # In a fresh process: after the settings, allocating and freeing 4 MiB buffers in a loop
    # must not fault their pages in again every time (the cost the settings remove).
    code = """
import resource
from stratos.common.memory import keep_buffers_in_heap
assert keep_buffers_in_heap()
x = b"\\x01" * (4 << 20)  # grow the heap once
del x
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    b = b"\\x01" * (4 << 20)
    del b
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    faults = int(out.stdout)
    # glibc's default maps the first such buffers fresh (~1000 faults here) before it adapts
    assert faults < 100, faults


def test_libc_has_mallopt() -> None:
    assert hasattr(ctypes.CDLL(None), "mallopt")
