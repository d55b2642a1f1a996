"""What-if study: how much read energy does lowering the supply save, and at what bit error rate?

Run: python examples/voltage_scaling.py
"""

from __future__ import annotations

import memsim


def main() -> None:
    sram = memsim.load_profile("sram_14nm_chandramoorthy2019")
    base = sram.at()
    print(f"{sram.name}: read energy saved vs BER")
    print(f"{'V/Vmin':>7}  {'BER':>9}  {'saved':>6}")
    for op in sram.grid(vdd_over_vmin=[1.0, 0.95, 0.9, 0.875, 0.85, 0.8, 0.75]):
        saved = 1.0 - op.read_energy_pj_per_bit / base.read_energy_pj_per_bit
        print(f"{op.knobs['vdd_over_vmin']:7.3f}  {op.ber:9.2e}  {saved:6.1%}")

    dram = memsim.load_profile("dram_ddr3l_chang2017_vendorb")
    print(f"\n{dram.name}: supply voltage x tRCD")
    for op in dram.grid(vdd_v=[1.35, 1.1, 1.05], trcd_ns=[13.75, 10.0, 7.5]):
        flag = " (uncalibrated)" if op.uncalibrated else ""
        print(
            f"vdd {op.knobs['vdd_v']:.3f} V  tRCD {op.knobs['trcd_ns']:5.2f} ns  BER {op.ber:9.2e}  "
            f"read {op.read_energy_pj_per_bit:5.2f} pJ/bit  latency {op.read_latency_ns:5.2f} ns{flag}"
        )


if __name__ == "__main__":
    main()
