"""Starting solution, plain PyTorch. Make `prefix_sum` fast (Triton, CUDA, ...), keep it right."""

import torch


def prefix_sum(x: torch.Tensor) -> torch.Tensor:
    """Y_i = sum of x_j for j <= i, counting x_j only if an odd number of x_k (k < j) are > 0.

    x: 1-D int32 tensor on the GPU. Returns a 1-D int32 tensor, same length, same device.
    """
    positive = (x > 0).to(torch.int32)
    positives_before = torch.cumsum(positive, 0) - positive  # int64
    odd = positives_before % 2 == 1
    return torch.cumsum(torch.where(odd, x, 0), 0).to(torch.int32)
