import subprocess
import sys


def test_import_loads_neither_torch_pybids_matplotlib_nor_dask():
    code = (
        "import sys\n"
        "import brainfeat\n"
        "heavy = [m for m in ('torch', 'bids', 'matplotlib', 'dask') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == ""

