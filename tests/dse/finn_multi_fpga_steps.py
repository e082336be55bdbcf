"""finn-plus 1.6.1's own multi-FPGA steps on an exported bundle, up to the first that needs Vivado.

    LC_ALL=C python -m tests.dse.finn_multi_fpga_steps BUNDLE OUT.json   (run in a scratch folder)

The bundle's build.yaml (read by DataflowBuildConfig) drives FINN's estimate steps on the
bundle's model.onnx with its folding_config.json (dse.finn's mirror of finn-plus's
estimate_only_dataflow_steps: importing finn-plus's builder module itself needs Vivado's XSI);
then what the build does before synthesis, without the parts that need
Vivado/Vitis HLS: FIFOs and width converters as step_set_fifo_depths inserts them (its
force_minimal_fifos branch: the same nodes, unsized depths), then step_prepare_synthesis's IODMA and
width-converter insertion (its PrepareIP/HLSSynthIP skipped) and its multi-FPGA branch:
PartitionForMultiFPGA (finn-plus's partitioner, reading our custom_partitioning_constraints),
CreateMultiFPGAStreamingDataflowPartition and CreateNetworkMetadata. PrepareCommunicationKernels
(AuroraFlow, Vivado) is where it stops. LC_ALL=C: finn-plus's partitioner dies on a C.UTF-8 locale.
Writes what finn-plus decided as JSON: every node's card, each SDP's card and nodes, the metadata.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(bundle: Path, out: Path) -> None:
    from finn.util.settings import initialize_dummy_settings

    initialize_dummy_settings()  # before FINN's modules (some read the settings on import); FINN_TMP here
    # The partitioner's result is lost without its build folder (FINN_BUILD_DIR where set).
    Path(os.environ.get("FINN_BUILD_DIR", "FINN_TMP")).mkdir(parents=True, exist_ok=True)

    import yaml
    from finn.builder.build_dataflow_config import DataflowBuildConfig
    from finn.transformation.fpgadataflow.insert_dwc import InsertDWC
    from finn.transformation.fpgadataflow.insert_fifo import InsertFIFO
    from finn.transformation.fpgadataflow.insert_iodma import InsertIODMA
    from finn.transformation.fpgadataflow.multifpga.create_multi_sdp import CreateMultiFPGAStreamingDataflowPartition
    from finn.transformation.fpgadataflow.multifpga.create_network_metadata import CreateNetworkMetadata
    from finn.transformation.fpgadataflow.multifpga.partition_model import PartitionForMultiFPGA
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers
    from finn.transformation.qonnx.give_unique_node_names_recursive import GiveUniqueNodeNamesRecursive
    from finn.util.fpgadataflow import get_device_id
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp
    from qonnx.transformation.general import GiveReadableTensorNames

    cfg = DataflowBuildConfig.construct_from(bundle / "build.yaml")
    cfg.output_dir = str(Path("build").resolve())
    (Path(cfg.output_dir) / "report").mkdir(parents=True, exist_ok=True)
    part = cfg._resolve_fpga_part()

    def names(m: ModelWrapper) -> ModelWrapper:
        return m.transform(GiveUniqueNodeNamesRecursive()).transform(GiveReadableTensorNames())

    from dse.finn import fold, to_hw_graph

    hw = to_hw_graph(bundle / "model.onnx", part=part, work_dir=Path("convert").resolve())
    assert cfg.folding_config_file is not None
    model, _ = fold(hw, clock_ns=cfg.synth_clk_period_ns,
                    folding=json.loads(Path(cfg.folding_config_file).read_text()))
    estimated = [n.name for n in model.graph.node]
    # step_set_fifo_depths (force_minimal_fifos branch)
    model = model.transform(InsertDWC()).transform(InsertFIFO(create_shallow_fifos=True))
    model = names(model.transform(SpecializeLayers(part)))
    # step_prepare_synthesis, Vitis Alveo, up to PrepareIP
    model = names(model.transform(InsertIODMA(max_intfwidth=cfg.vitis_iodma_intf_max_width)))
    model = names(model.transform(InsertDWC()))
    model = names(model.transform(SpecializeLayers(part)))
    pc = cfg.partitioning_configuration
    assert pc is not None and pc.partitioning is None
    model = model.transform(PartitionForMultiFPGA(cfg))
    cards = {n.name: get_device_id(n) for n in model.graph.node}
    op_types = {n.name: n.op_type for n in model.graph.node}
    order = [n.name for n in model.graph.node]
    model = model.transform(CreateMultiFPGAStreamingDataflowPartition(pc.separate_iodmas,
                                                                      Path(cfg.output_dir) / "kernel_partitions",
                                                                      pc.verbosity))
    sdps = [{"name": n.name, "card": get_device_id(n),
             "nodes": [c.name for c in ModelWrapper(getCustomOp(n).get_nodeattr("model")).graph.node]}
            for n in model.graph.node]
    model = model.transform(CreateNetworkMetadata(pc.communication_kernel, pc.verbosity))
    metadata = yaml.safe_load(Path(model.get_metadata_prop("network_metadata")).read_text())
    out.write_text(json.dumps({"estimated_nodes": estimated, "order": order, "cards": cards, "op_types": op_types,
                               "sdps": sdps, "metadata": metadata,
                               "partitioning_yaml": yaml.safe_load((Path(cfg.output_dir) / "report" /
                                                                    "partitioning.yaml").read_text())}))


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve())
