"""The device's matmul peak, which the FLOP rates of M1's coding and M2's training are read
against: a table of GPUs' dense bf16 peaks, and a GEMM measured where the device is not in it."""

from __future__ import annotations

import time

import torch

# Dense bf16 tensor-core peaks (FLOP/s) from the vendors' data sheets, by a name's first match.
GPU_BF16_PEAKS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12, "A10": 125e12}


def matmul_peak_flops(device: torch.device, repeats: int = 5, int8: bool = False) -> float:
    """Best GEMM rate (FLOP/s, an int8 multiply-add counted as two) of torch on `device` (CPU:
    with its current threads): fp32, or int8 x int8 -> int32 as M1's fused CPU step runs them."""
    n = 1024 if device.type == "cpu" else 8192
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    if int8:
        a, b = (x.clamp(-127, 127).to(torch.int8) for x in (a * 40, b * 40))
    gemm = torch._int_mm if int8 else torch.mm
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        gemm(a, b)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def training_peak(device: torch.device) -> tuple[float, str]:
    """The peak MFU is reported against, and what it is: a GPU's bf16 data-sheet figure, else
    a float32 GEMM measured here (on a CPU, with this process's threads)."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, peak in GPU_BF16_PEAKS.items():
            if key in name:
                return peak, f"{name} bf16 dense peak {peak / 1e12:.0f} TFLOP/s"
        return matmul_peak_flops(device), f"{name} float32 GEMM measured"
    peak = matmul_peak_flops(device)
    threads = torch.get_num_threads()
    return peak, f"float32 GEMM measured on this process's {threads} thread(s), {peak / 1e9:.0f} GFLOP/s"
