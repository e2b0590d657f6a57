"""Writes adamw_torch1.13.pt: torch.optim.AdamW.state_dict() after 3 steps on a tiny model with one parameter of
each layout family (Conv2d OIHW, Linear [out, in], Conv1d [O, I, 1], GroupNorm), for test/interop-pt.test.ts.
Gradients are set by formula (no autograd): g[p][k] = sin(0.37 * (k + 1) + p) * (step + 1), k the flat index in
the parameter's PyTorch layout, p the parameter's position. Run with the Debian torch: /usr/bin/python3 make_adamw_fixture.py"""
import math
import torch

model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Linear(4, 5), torch.nn.Conv1d(5, 6, 1), torch.nn.GroupNorm(2, 6))
opt = torch.optim.AdamW(model.parameters(), lr=2e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
for step in range(3):
    for p_index, p in enumerate(model.parameters()):
        n = p.numel()
        p.grad = torch.tensor([math.sin(0.37 * (k + 1) + p_index) * (step + 1) for k in range(n)], dtype=torch.float32).reshape(p.shape)
    opt.step()
torch.save(opt.state_dict(), "adamw_torch1.13.pt")
print(torch.__version__, [tuple(p.shape) for p in model.parameters()])
