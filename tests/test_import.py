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


def test_import_touches_neither_data_nor_network(tmp_path):
    data = tmp_path / "data"
    code = (
        "import sys\n"
        "events = []\n"
        "sys.addaudithook(lambda event, args: events.append(event)\n"
        "                 if event.startswith('socket.') else None)\n"
        "import brainfeat\n"
        "print(events, brainfeat.default_catalog.cache_info().currsize)\n"
    )
    env = {"BRAINFEAT_DATA": str(data), "HOME": str(tmp_path), "PATH": ""}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, env=env)
    # no socket opened, the packaged tables not read yet, nothing written
    assert result.stdout.split() == ["[]", "0"]
    assert not data.exists() and list(tmp_path.iterdir()) == []
