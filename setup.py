"""ocirt: an OCI runtime in Python. Builds the cffi syscall shim from csrc/."""
from setuptools import setup

setup(
    name="ocirt",
    version="0.1.0",
    description="An OCI-compliant low-level container runtime",
    python_requires=">=3.11",
    packages=["ocirt", "ocirt.linux", "ocirt.linux.cgroups", "ocirt.schemas"],
    # The runtime-spec schemas live at the top level (schemas/) and are
    # installed inside the package so that the runtime finds them at run time.
    package_dir={"ocirt.schemas": "schemas"},
    package_data={"ocirt.schemas": ["*.json"]},
    setup_requires=["cffi>=1.15"],
    install_requires=["cffi>=1.15", "jsonschema>=4"],
    extras_require={"test": ["pytest"]},
    cffi_modules=["ocirt/_shim_build.py:ffibuilder"],
    entry_points={"console_scripts": ["ocirt = ocirt.cli:main"]},
    zip_safe=False,
)
