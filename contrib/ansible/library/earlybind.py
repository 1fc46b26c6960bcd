#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: 2026 the earlybind authors

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: earlybind
short_description: Bind GPUs to vfio-pci at early boot with earlybind
description:
  - Adds devices to (or removes them from) C(/etc/earlybind.conf) with the earlybind CLI,
    then runs C(earlybind install), which puts the boot binder into the initramfs and the
    IOMMU flags into the boot loader and rebuilds the images.
  - An address brings the other endpoints of its IOMMU group and, for a GPU, the functions
    of its card along, as C(earlybind add) does.
  - Reports C(changed) as earlybind does (the config, a file install writes, an image it
    rebuilds) and whether a reboot is needed; the play decides when to reboot.
  - Every earlybind call runs with C(--json); in check mode each changing call also runs
    with C(--dry-run), so nothing is written.
author:
  - earlybind authors
requirements:
  - the earlybind CLI on the managed host
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  devices:
    description:
      - The devices, each a selector string (a PCI address C(0000:03:00.0) or C(03:00.0), or a
        vendor:device ID C(10de:1b02)) or a dictionary with the keys C(selector) and C(force).
      - Quote addresses in YAML, or C(03:00.0) is read as a number.
      - Devices with C(force=true) are added in a call of their own with C(--force), which
        takes them even where a safety rule refuses (the boot GPU, a device the host uses);
        their entries are written with C(force).
      - C(force) has no effect with I(state=absent).
    type: list
    elements: raw
    required: true
  state:
    description:
      - C(present) adds the devices (C(earlybind add)), C(absent) removes their entries
        (C(earlybind remove)); either way C(earlybind install) runs after, unless I(install=false).
    type: str
    choices: [present, absent]
    default: present
  install:
    description:
      - Run C(earlybind install) after the config, which rebuilds the initramfs images when
        anything changed.
    type: bool
    default: true
  backend:
    description:
      - The initramfs generator to install into, passed to install as C(--backend).
      - By default earlybind uses the one installed.
    type: str
    choices: [initramfs-tools, dracut, mkinitcpio]
  root:
    description:
      - Passed to every earlybind call as C(--root), to read and write the config and
        installed files under this directory (a staged root); with a root other than C(/)
        install rebuilds nothing and reports that a rebuild is needed.
    type: path
  sysfs:
    description:
      - Passed to every earlybind call as C(--sysfs), to read devices from this sysfs tree.
    type: path
  binary:
    description:
      - The path of the earlybind CLI.
      - By default the one found on C(PATH).
    type: path
notes:
  - A device refused by a safety rule fails the task with earlybind's message and changes
    nothing; read the message before adding C(force).
  - C(reboot_required) is true when the config changed, install wrote a file or rebuilt an
    image, or install reports that a rebuild is needed; notify a reboot handler with it.
"""

EXAMPLES = r"""
- name: Hand the GPU at 0000:03:00.0 (and its IOMMU group) to vfio-pci at boot
  earlybind:
    devices:
      - "0000:03:00.0"
  register: earlybind_result
  notify: reboot

- name: Take the boot GPU too, knowing the host loses its console
  earlybind:
    devices:
      - "0000:03:00.0"
      - selector: "0000:00:02.0"
        force: true

- name: Give the card back to the host at the next boot
  earlybind:
    devices:
      - "0000:03:00.0"
    state: absent

- name: Configure every card with one ID, and rebuild the dracut images later
  earlybind:
    devices:
      - 10de:1b02
    backend: dracut
    install: false
"""

RETURN = r"""
entries:
  description:
    - The entries that C(earlybind add) wrote or updated, or the whole config lines (comment
      included) that C(earlybind remove) took out (in check mode, those it would).
  returned: always
  type: list
  elements: str
  sample: ["0000:03:00.0 10de:1b02", "0000:03:00.1 10de:10f0"]
install:
  description:
    - The object C(earlybind install --json) printed (changes, commands run, images,
      rebuild_needed).
  returned: when I(install=true)
  type: dict
  sample: {"changed": true, "changes": [{"path": "/etc/initramfs-tools/hooks/earlybind", "action": "created"}],
           "rebuild_needed": false, "commands": ["update-initramfs -u -k all"], "images": []}
reboot_required:
  description:
    - Whether the boot changes only after a reboot; true when the config changed, install
      wrote a file or rebuilt an image, or install reports that a rebuild is needed.
  returned: always
  type: bool
  sample: true
status:
  description:
    - The object C(earlybind status --json) printed after the changes; C(ready) is true once
      every configured device is on vfio-pci, which is after the reboot.
  returned: always
  type: dict
  sample: {"ready": false, "reasons": [{"code": "other_driver", "severity": "error", "device": "0000:03:00.0"}]}
"""

import json

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.six import string_types


# A device given as a dictionary.
DEVICE_SPEC = ArgumentSpecValidator(dict(selector=dict(type="str", required=True), force=dict(type="bool", default=False)))


def selectors(module):
    """Splits the devices into the plain selectors and the forced ones."""
    plain, forced = [], []
    for item in module.params["devices"]:
        if isinstance(item, dict):
            checked = DEVICE_SPEC.validate(item)
            if checked.error_messages:
                module.fail_json(msg="devices: %r: %s" % (item, "; ".join(checked.error_messages)))
            device = checked.validated_parameters
            (forced if device["force"] else plain).append(device["selector"])
        elif isinstance(item, string_types):
            plain.append(item)
        else:
            # YAML reads an unquoted 03:00.0 as a base-60 number.
            module.fail_json(msg="devices: %r is not a string: quote PCI addresses in YAML" % (item,))
    return plain, forced


class Earlybind:
    def __init__(self, module, result):
        self.module = module
        self.result = result
        self.binary = module.params["binary"] or module.get_bin_path("earlybind", required=True)
        self.where = []
        for name in ("root", "sysfs"):
            if module.params[name]:
                self.where += ["--" + name, module.params[name]]

    def run(self, command, options=(), arguments=(), changes=True, ok_codes=(0,)):
        """Runs `earlybind COMMAND --json`, --dry-run for a changing command in check mode; returns its JSON."""
        args = [self.binary, command] + self.where + list(options) + ["--json"]
        if changes and self.module.check_mode:
            args.append("--dry-run")
        if arguments:
            # "--" so that no selector is read as an option.
            args += ["--"] + list(arguments)
        rc, out, err = self.module.run_command(args)
        if rc not in ok_codes:
            self.module.fail_json(msg=err.strip() or "earlybind %s exited %d" % (command, rc),
                                  rc=rc, cmd=args, stdout=out, stderr=err, **self.result)
        try:
            return json.loads(out)
        except ValueError:
            self.module.fail_json(msg="earlybind %s printed no JSON object" % command,
                                  rc=rc, cmd=args, stdout=out, stderr=err, **self.result)

    def edit_config(self, command, arguments, options=()):
        """Runs add or remove; records the entries and whether the config changed."""
        outcome = self.run(command, options, arguments)
        self.result["entries"] += outcome["entries"]
        if outcome["changed"]:
            self.result["changed"] = self.result["reboot_required"] = True


def main():
    module = AnsibleModule(
        argument_spec=dict(
            devices=dict(type="list", elements="raw", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            install=dict(type="bool", default=True),
            backend=dict(type="str", choices=["initramfs-tools", "dracut", "mkinitcpio"]),
            root=dict(type="path"),
            sysfs=dict(type="path"),
            binary=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    result = dict(changed=False, reboot_required=False, entries=[])
    plain, forced = selectors(module)
    earlybind = Earlybind(module, result)

    if module.params["state"] == "present":
        # add's --force applies to every selector of the call: forced devices get a call of their own.
        if plain:
            earlybind.edit_config("add", plain)
        if forced:
            earlybind.edit_config("add", forced, ["--force"])
    elif plain + forced:
        earlybind.edit_config("remove", plain + forced)

    if module.params["install"]:
        backend = module.params["backend"]
        install = earlybind.run("install", ["--backend", backend] if backend else [])
        result["install"] = install
        if install["changed"]:
            result["changed"] = True
        if install["changed"] or install["rebuild_needed"]:
            result["reboot_required"] = True

    # status exits 1 when not ready, which is the normal state until the reboot.
    result["status"] = earlybind.run("status", changes=False, ok_codes=(0, 1))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
