"""The software the environments' numbers (y_s, y_r) were measured on, in one place.

environments/triton_cumsum/README.md ("Calibration") records that run: an H100 with driver
580.159.04, torch 2.11.0+cu130, Triton 3.6.0 and Python 3.12.3. A GPU host scores like it only
with the same software, so vm_images/Dockerfile builds the workspace image from these versions
and vm_images/bootstrap.sh refuses a driver too old for them; tests/environments/
test_workspace_image.py fails when either, or the calibration record, says otherwise. Change
them together, after calibrating again (calibrate.py records what it ran on).
"""

GPU = "NVIDIA H100 80GB HBM3"
DRIVER = "580.159.04"
# The oldest driver that runs CUDA 13.0 (NVIDIA's minimum for the 13.x toolkits on Linux).
DRIVER_MIN_MAJOR = 580
TORCH = "2.11.0"
# torch.__version__ reads "2.11.0+cu130": PyPI's Linux wheel of 2.11.0 is the CUDA 13.0 build,
# with the toolkit as the pip package cuda-toolkit 13.0.2, which the image's base matches.
TORCH_BUILD = "cu130"
CUDA = "13.0.2"
TRITON = "3.6.0"
# Python 3.12.3 on the calibration host: what Ubuntu 24.04 ships as python3.
PYTHON = "3.12"
UBUNTU = "24.04"
