"""Drives a PVE API with proxmoxer as a site script would: a container and
a cloned VM are created, reconverged, started, stopped and deleted.

usage: flow.py HOST PORT CA_FILE PASSWORD
Prints one line per step; exits non-zero on the first failure.
"""
import sys
import time

from proxmoxer import ProxmoxAPI

host, port, cafile, password = sys.argv[1:5]
pve = ProxmoxAPI(host, port=int(port), user="root@pam", password=password, verify_ssl=cafile)
node = pve.nodes("pve")


def wait(upid):
    for _ in range(500):
        st = node.tasks(upid).status.get()
        if st["status"] == "stopped":
            if st.get("exitstatus") != "OK":
                raise SystemExit("task %s failed: %s" % (upid, st.get("exitstatus")))
            return
        time.sleep(0.02)
    raise SystemExit("task %s did not end" % upid)


def converge(guest, want):
    """Sets the options that differ; returns what it changed."""
    have = guest.config.get()
    diff = {k: v for k, v in want.items() if str(have.get(k)) != str(v)}
    if diff:
        res = guest.config.put(**diff)
        if isinstance(res, str) and res.startswith("UPID:"):
            wait(res)
    return sorted(diff)


def step(msg):
    print(msg, flush=True)


if "ci" not in [p["poolid"] for p in pve.pools.get()]:
    pve.pools.post(poolid="ci", comment="proxmoxer test")

# The container, with what Ansible's proxmox module sends on create.
wait(node.lxc.create(vmid=150, ostemplate="local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
                     hostname="ci-ct", rootfs="local-zfs:4", memory=512, cores=1,
                     net0="name=eth0,bridge=vmbr0,ip=dhcp", unprivileged=1, force=0,
                     pool="ci", tags="ci;proxmoxer", start=0))
ct = node.lxc(150)
step("lxc created: pool=%s tags=%s" % ([m["vmid"] for m in pve.pools("ci").get()["members"]], ct.config.get()["tags"]))
step("lxc reconverge: %s" % converge(ct, {"memory": 1024, "cores": 2}))
step("lxc reconverge again: %s" % converge(ct, {"memory": 1024, "cores": 2}))
wait(ct.status.start.post())
step("lxc start: %s" % ct.status.current.get()["status"])
wait(ct.status.stop.post())
step("lxc stop: %s" % ct.status.current.get()["status"])
wait(ct.delete())
step("lxc deleted: %s" % (150 not in [g["vmid"] for g in node.lxc.get()]))

# The VM, cloned from the cloud-init template as every cloud-init
# workflow does, then set up through cloud-init.
wait(pve.nodes("pve").qemu(9000).clone.post(newid=1100, name="ci-vm", full=1, pool="ci", storage="local-zfs"))
vm = node.qemu(1100)
step("vm cloned: template=%s" % vm.config.get().get("template", 0))
step("vm reconverge: %s" % converge(vm, {"memory": 3072, "ipconfig0": "gw=10.0.0.1,ip=10.0.0.210/24", "tags": "ci"}))
step("vm reconverge again: %s" % converge(vm, {"memory": 3072, "ipconfig0": "gw=10.0.0.1,ip=10.0.0.210/24", "tags": "ci"}))
wait(vm.status.start.post())
step("vm start: %s" % vm.status.current.get()["status"])
wait(vm.status.stop.post())
step("vm stop: %s" % vm.status.current.get()["status"])
wait(vm.delete())
step("vm deleted: %s" % (1100 not in [g["vmid"] for g in node.qemu.get()]))

# A VM made as a template and one converted into one.
wait(node.qemu.create(vmid=1101, name="tpl", memory=512, storage="local-zfs", scsi0="local-zfs:1", template=1))
step("vm created as template: %s" % node.qemu(1101).config.get().get("template"))
wait(node.qemu.create(vmid=1102, name="tpl2", memory=512, scsi0="local-zfs:1", start=0))
wait(node.qemu(1102).template.post())
step("vm converted to template: %s" % node.qemu(1102).config.get().get("template"))
for vmid in (1101, 1102):
    wait(node.qemu(vmid).delete())
pve.pools("ci").delete()
step("pool deleted: %s" % ("ci" not in [p["poolid"] for p in pve.pools.get()]))
